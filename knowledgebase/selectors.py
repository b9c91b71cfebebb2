"""Reads: who may see a knowledge source (the second visibility check before citing or serving it)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from knowledgebase.models import (
    DocumentVersion,
    ImportRun,
    IndexedSource,
    IndexingJob,
    KnowledgeDocument,
    KnowledgePage,
)
from knowledgebase.models.indexing import SourceType
from knowledgebase.sources import document_access, page_access
from search.backends import get_search_backend
from search.values import Principal
from search.visibility import access_allows


def document_visible_to(document: KnowledgeDocument, principal: Principal) -> bool:
    return bool(document.live) and access_allows(document_access(document), principal)


def page_visible_to(page: KnowledgePage, principal: Principal) -> bool:
    return bool(page.live) and access_allows(page_access(page), principal)


def sources_visible_to(keys: set[tuple[str, int]], principal: Principal) -> set[tuple[str, int]]:
    """Of the (source_type, source_id) pairs given, those still live and visible to the principal."""
    visible: set[tuple[str, int]] = set()
    page_ids = [i for t, i in keys if t == SourceType.PAGE]
    document_ids = [i for t, i in keys if t == SourceType.DOCUMENT]
    for page in KnowledgePage.objects.live().filter(pk__in=page_ids):
        if page_visible_to(page, principal):
            visible.add((SourceType.PAGE, page.pk))
    for document in KnowledgeDocument.objects.filter(pk__in=document_ids, live=True).select_related(
        "collection"
    ):
        if document_visible_to(document, principal):
            visible.add((SourceType.DOCUMENT, document.pk))
    return visible


def sources_by_key(keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Any]:
    """The pages and documents of these (source_type, source_id) pairs that still exist, by pair (two
    queries, whatever their number). No visibility check: for editors' reports and actions."""
    keys = set(keys)
    pages = KnowledgePage.objects.in_bulk([i for t, i in keys if t == SourceType.PAGE])
    documents = KnowledgeDocument.objects.in_bulk([i for t, i in keys if t == SourceType.DOCUMENT])
    by_type: dict[str, dict[int, Any]] = {SourceType.PAGE: pages, SourceType.DOCUMENT: documents}
    found: dict[tuple[str, int], Any] = {}
    for source_type, source_id in keys:
        source = by_type.get(source_type, {}).get(source_id)
        if source is not None:
            found[(source_type, source_id)] = source
    return found


def document_readable_by(user: Any, document: KnowledgeDocument) -> bool:
    """Who may open a document's page and download its file. A private upload: its owner only (editors
    with change_knowledgedocument could download everyone's; superusers go through the audited
    `document_private_access`). Shared knowledge: whoever may retrieve it, and its editors."""
    if document.audience == KnowledgeDocument.Audience.PRIVATE:
        return bool(user.is_authenticated and document.owner_id == user.pk)
    return document_visible_to(document, Principal.from_user(user)) or user_can_edit_document(user, document)


def user_can_edit_document(user: Any, document: KnowledgeDocument) -> bool:
    return bool(
        user.is_authenticated
        and (document.owner_id == user.pk or user.has_perm("knowledgebase.change_knowledgedocument"))
    )


def source_status(source_type: str, source_id: int) -> dict[str, Any]:
    """What editors see of a source's processing: the latest job, the indexed state, the last version."""

    return {
        "job": IndexingJob.objects.filter(source_type=source_type, source_id=source_id).first(),
        "indexed": IndexedSource.objects.filter(source_type=source_type, source_id=source_id).first(),
        "version": DocumentVersion.objects.filter(source_type=source_type, source_id=source_id).first(),
        "source_type": source_type,
        "source_id": source_id,
    }


def source_chunks_indexed(source_type: str, source_id: int) -> list[Any]:
    """The chunks the index holds for a source, in document order."""

    backend = get_search_backend()
    chunks = backend.get_chunks(list(backend.stored_hashes(source_type, source_id)))
    return sorted(chunks, key=lambda chunk: chunk.position)


@dataclass(frozen=True, kw_only=True)
class ImportProgress:
    """How far a background import is: files imported, pages indexed (answerable), time left."""

    directory: str
    status: str
    files_total: int
    files_done: int
    pages_indexed: int
    pending_jobs: int
    eta_seconds: float | None
    error: str

    @property
    def complete(self) -> bool:
        return self.status in {"done", "failed"} and self.pending_jobs == 0

    @property
    def percent(self) -> int:
        return round(100 * self.pages_indexed / self.files_total) if self.files_total else 100


def import_progress(*, include_complete: bool = False) -> ImportProgress | None:
    """The latest background import (the demo knowledge of `make run`), None when there is none or it
    finished (unless `include_complete`)."""
    run = ImportRun.objects.order_by("-created_at").first()
    if run is None:
        return None
    page_ids = [int(pk) for pk in run.page_ids]
    indexed = IndexedSource.objects.filter(source_type=SourceType.PAGE, source_id__in=page_ids).count()
    pending = IndexingJob.objects.filter(
        source_type=SourceType.PAGE,
        source_id__in=page_ids,
        status__in=[IndexingJob.Status.QUEUED, IndexingJob.Status.PROCESSING],
    ).count()
    eta: float | None = None
    if run.started_at and indexed and indexed < run.files_total:
        # Pages become answerable at a steady rate once the import has created them (indexing is the
        # slow part), so the rate so far predicts the rest.
        elapsed = (timezone.now() - run.started_at).total_seconds()
        eta = elapsed / indexed * (run.files_total - indexed)
    progress = ImportProgress(
        directory=run.directory,
        status=run.status,
        files_total=run.files_total,
        files_done=run.files_done,
        pages_indexed=indexed,
        pending_jobs=pending,
        eta_seconds=eta,
        error=run.error,
    )
    if progress.complete and not include_complete:
        return None
    return progress
