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
