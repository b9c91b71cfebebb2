"""A user's own upload becoming knowledge: the duplicate check and the private document it is stored as.

The API view (chatbot/api/documents.py) validates the request and calls these; publishing the document
queues its indexing through the usual signals."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from knowledgebase.audit import document_upload_log
from knowledgebase.models import KnowledgeDocument
from knowledgebase.selectors import document_visible_to
from knowledgebase.validation import ValidatedUpload, storage_fault
from search.errors import KnowledgeError
from search.values import Principal


class UploadStorageError(KnowledgeError):
    """The upload could not be stored; nothing of it was kept."""

    default_code = "storage_unavailable"


def document_duplicate_for(user: Any, *, sha256: str) -> KnowledgeDocument | None:
    """An existing document with the same content that the user owns or may see. Others' private files
    are not reported: a 409 would reveal that somebody holds that exact file."""
    principal = Principal.from_user(user)
    for document in KnowledgeDocument.objects.filter(file_hash=sha256).select_related("collection"):
        if document.owner_id == user.pk or document_visible_to(document, principal):
            return document
    return None


def document_upload_create(
    *, user: Any, upload: Any, validated: ValidatedUpload, title: str, description: str
) -> KnowledgeDocument:
    """Store the upload as the user's private document and publish it (which queues its indexing).

    A storage that cannot take the file (disk full) raises UploadStorageError: the transaction leaves no
    row, and the private storage removes what it had written."""
    try:
        return _document_create(
            user=user, upload=upload, validated=validated, title=title, description=description
        )
    except OSError as e:
        raise storage_fault(e, UploadStorageError, doing="stored") from e


def _document_create(
    *, user: Any, upload: Any, validated: ValidatedUpload, title: str, description: str
) -> KnowledgeDocument:
    with transaction.atomic():
        document = KnowledgeDocument(
            title=title or validated.title or "Untitled",
            description=description,
            file=upload,
            kind=str(validated.kind),
            file_size=validated.size,
            file_hash=validated.sha256,
            owner=user,
            audience=KnowledgeDocument.Audience.PRIVATE,
            live=False,
        )
        document.save()
        # The owner publishes their own private file; Wagtail's publish permission is for shared knowledge.
        document.save_revision(user=user).publish(user=user, skip_permission_checks=True)
        document_upload_log(document, user=user)
    document.refresh_from_db()
    return document
