"""Audit log action types for knowledge files and indexing, recorded in Wagtail's own log entries so
they appear in the site history report (Reports › Site history) and in each object's history, with the
user and the time.

Wagtail logs publishing, workflow approvals and edits of documents and pages itself ("wagtail.publish",
"wagtail.workflow.approve"); these add what Wagtail cannot see: uploads and deletions through the API,
downloads on the site, explicit approvals outside a workflow and re-indexing.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _
from wagtail.log_actions import LogActionRegistry, LogFormatter
from wagtail.log_actions import log as log_action

DOCUMENT_UPLOAD = "knowledge.document.upload"
DOCUMENT_DOWNLOAD = "knowledge.document.download"
DOCUMENT_DELETE = "knowledge.document.delete"
DOCUMENT_APPROVE = "knowledge.document.approve"
SOURCE_REINDEX = "knowledge.reindex"

_ACTIONS = {
    DOCUMENT_UPLOAD: (_("Knowledge: upload"), _("Uploaded")),
    DOCUMENT_DOWNLOAD: (_("Knowledge: download"), _("Downloaded")),
    DOCUMENT_DELETE: (_("Knowledge: delete"), _("Deleted")),
    DOCUMENT_APPROVE: (_("Knowledge: approve"), _("Approved for the knowledge base")),
    SOURCE_REINDEX: (_("Knowledge: re-index"), _("Re-indexing requested")),
}


def register_knowledge_log_actions(actions: LogActionRegistry) -> None:
    """The `register_log_actions` hook (knowledgebase/wagtail_hooks.py)."""
    for action, (label, message) in _ACTIONS.items():
        actions.register_action(action)(_formatter(label, message))


def _formatter(label: Any, message: Any) -> type[LogFormatter]:
    class KnowledgeLogFormatter(LogFormatter):
        def format_message(self, log_entry: Any) -> str:
            detail = (log_entry.data or {}).get("detail", "")
            return f"{message}: {detail}" if detail else str(message)

    KnowledgeLogFormatter.label = label
    return KnowledgeLogFormatter


def _user_or_none(user: Any) -> Any:
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def _log(instance: models.Model, action: str, *, user: Any, detail: str = "", **data: Any) -> Any:
    return log_action(instance, action, user=_user_or_none(user), data={"detail": detail, **data})


def document_upload_log(document: Any, *, user: Any) -> Any:
    """After a knowledge document was uploaded (admin or API); `user` may be None or anonymous."""
    return _log(document, DOCUMENT_UPLOAD, user=user, detail=document.filename, size=document.file_size)


def document_download_log(document: Any, *, user: Any, reason: str = "") -> Any:
    """`reason`: a superuser opening another user's private file says why (kept in the entry)."""
    if reason:
        detail = f"{document.filename} (another user's private file; reason: {reason})"
        return _log(document, DOCUMENT_DOWNLOAD, user=user, detail=detail, private_access=True, reason=reason)
    return _log(document, DOCUMENT_DOWNLOAD, user=user, detail=document.filename)


def document_delete_log(document: Any, *, user: Any) -> Any:
    """Call BEFORE deleting: the entry needs the document's primary key and title."""
    return _log(document, DOCUMENT_DELETE, user=user, detail=document.filename)


def document_approve_log(document: Any, *, user: Any, comment: str = "") -> Any:
    return _log(document, DOCUMENT_APPROVE, user=user, detail=comment)


def source_reindex_log(source: Any, *, user: Any, reason: str = "manual reindex") -> Any:
    """A page or document was queued for re-indexing by a person (the pipeline's own runs are jobs)."""
    return _log(source, SOURCE_REINDEX, user=user, detail=reason)
