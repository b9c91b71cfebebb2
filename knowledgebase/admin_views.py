"""Admin views: the chunks a source was indexed as ("what the bot sees") and a re-index button."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from knowledgebase import services
from knowledgebase.audit import source_reindex_log
from knowledgebase.models import DocumentVersion, IndexingJob, KnowledgeDocument, KnowledgePage
from knowledgebase.models.indexing import SourceType
from knowledgebase.permissions import is_others_private
from knowledgebase.selectors import source_chunks_indexed, source_status
from search.errors import SearchUnavailable


def _source_for_editor(
    request: HttpRequest, source_type: str, source_id: int
) -> KnowledgePage | KnowledgeDocument:
    if source_type == SourceType.PAGE:
        page = KnowledgePage.objects.filter(pk=source_id).first()
        if page is None:
            raise Http404("No such page.")
        if not page.permissions_for_user(request.user).can_edit():
            raise PermissionDenied
        return page
    if source_type == SourceType.DOCUMENT:
        document = KnowledgeDocument.objects.filter(pk=source_id).first()
        if document is None:
            raise Http404("No such document.")
        if not request.user.has_perm("knowledgebase.change_knowledgedocument"):
            raise PermissionDenied
        if is_others_private(request.user, document):
            raise Http404("No such document.")  # another user's private upload: not even its chunks
        return document
    raise Http404("Unknown source type.")


def source_chunks_view(request: HttpRequest, source_type: str, source_id: int) -> HttpResponse:
    source = _source_for_editor(request, source_type, source_id)
    error = ""
    try:
        chunks = source_chunks_indexed(source_type, source_id)
    except SearchUnavailable as e:
        chunks, error = [], e.message
    return TemplateResponse(
        request,
        "knowledgebase/admin/source_chunks.html",
        {
            "source": source,
            "chunks": chunks,
            "error": error,
            "status": source_status(source_type, source_id),
            "jobs": IndexingJob.objects.filter(source_type=source_type, source_id=source_id)[:10],
            "versions": DocumentVersion.objects.filter(source_type=source_type, source_id=source_id)[:10],
            "header_title": f"What the bot sees: {source}",
        },
    )


@require_POST
def source_reindex_view(request: HttpRequest, source_type: str, source_id: int) -> HttpResponse:
    source = _source_for_editor(request, source_type, source_id)
    services.indexing_job_enqueue(source_type, source_id, reason="manual reindex", user=request.user)
    source_reindex_log(source, user=request.user)
    messages.success(request, "Re-indexing queued.")
    return redirect("knowledge_chunks", source_type, source_id)
