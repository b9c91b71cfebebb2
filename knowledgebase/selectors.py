"""Reads: who may see a knowledge source (the second visibility check before citing or serving it)."""

from __future__ import annotations

from typing import Any

from knowledgebase.models import KnowledgeDocument, KnowledgePage
from knowledgebase.models.indexing import SourceType
from knowledgebase.sources import Access, document_access, page_access
from search.values import Principal, Visibility


def access_allows(access: Access, principal: Principal) -> bool:
    """The same rule the search backends apply inside their queries."""
    if access.visibility == Visibility.OWNER:
        return principal.user_id is not None and principal.user_id == access.owner_id
    if principal.is_superuser or access.visibility == Visibility.PUBLIC:
        return True
    if access.visibility == Visibility.LOGIN:
        return not principal.is_anonymous
    return bool(set(access.group_ids) & principal.group_ids)


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


def user_can_edit_document(user: Any, document: KnowledgeDocument) -> bool:
    return bool(
        user.is_authenticated
        and (document.owner_id == user.pk or user.has_perm("knowledgebase.change_knowledgedocument"))
    )


def source_status(source_type: str, source_id: int) -> dict[str, Any]:
    """What editors see of a source's processing: the latest job, the indexed state, the last version."""
    from knowledgebase.models import DocumentVersion, IndexedSource, IndexingJob

    return {
        "job": IndexingJob.objects.filter(source_type=source_type, source_id=source_id).first(),
        "indexed": IndexedSource.objects.filter(source_type=source_type, source_id=source_id).first(),
        "version": DocumentVersion.objects.filter(source_type=source_type, source_id=source_id).first(),
        "source_type": source_type,
        "source_id": source_id,
    }


def source_chunks_indexed(source_type: str, source_id: int) -> list[Any]:
    """The chunks the index holds for a source, in document order."""
    from search.backends import get_search_backend

    backend = get_search_backend()
    chunks = backend.get_chunks(list(backend.stored_hashes(source_type, source_id)))
    return sorted(chunks, key=lambda chunk: chunk.position)
