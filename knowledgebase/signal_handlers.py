"""Publishing drives the index. Handlers only decide *what* changed and enqueue a job on commit; the work
is in services and tasks. Signals (not admin hooks) fire from the admin, the API and scheduled publishing
alike."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed, post_delete, post_save
from wagtail.models import Collection, CollectionViewRestriction, Page, PageViewRestriction
from wagtail.signals import (
    page_published,
    page_slug_changed,
    page_unpublished,
    post_page_move,
    published,
    unpublished,
)

from knowledgebase import services
from knowledgebase.models import IndexedSource, KnowledgeDocument, KnowledgePage
from knowledgebase.models.indexing import SourceType


def _page_published(sender: Any, instance: Page, **kwargs: Any) -> None:
    services.indexing_job_enqueue(
        SourceType.PAGE,
        instance.pk,
        reason="publish",
        revision_id=getattr(instance, "live_revision_id", None),
        user=getattr(kwargs.get("revision"), "user", None),
    )


def _page_unpublished(sender: Any, instance: Page, **kwargs: Any) -> None:
    services.indexing_job_enqueue(SourceType.PAGE, instance.pk, action="remove", reason="unpublish")


def _page_tree_changed(sender: Any, instance: Page, **kwargs: Any) -> None:
    # Moves and slug changes change the URLs (and possibly the inherited privacy) of the whole subtree.
    services.page_tree_enqueue(instance, reason="move" if "parent_page_after" in kwargs else "slug change")


def _page_deleted(sender: Any, instance: Page, **kwargs: Any) -> None:
    if IndexedSource.objects.filter(source_type=SourceType.PAGE, source_id=instance.pk).exists():
        services.indexing_job_enqueue(SourceType.PAGE, instance.pk, action="remove", reason="delete")


def _page_restriction_changed(sender: Any, instance: PageViewRestriction, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    page = Page.objects.filter(pk=instance.page_id).first()
    if page is not None:
        services.page_tree_enqueue(page, reason="privacy change")


def _page_restriction_groups_changed(
    sender: Any, instance: PageViewRestriction, action: str, **kwargs: Any
) -> None:
    if action in {"post_add", "post_remove", "post_clear"}:
        _page_restriction_changed(sender, instance)


def _document_published(sender: Any, instance: KnowledgeDocument, **kwargs: Any) -> None:
    revision = kwargs.get("revision")
    services.indexing_job_enqueue(
        SourceType.DOCUMENT,
        instance.pk,
        reason="publish",
        revision_id=instance.live_revision_id,
        user=getattr(revision, "user", None),
    )


def _document_unpublished(sender: Any, instance: KnowledgeDocument, **kwargs: Any) -> None:
    services.indexing_job_enqueue(SourceType.DOCUMENT, instance.pk, action="remove", reason="unpublish")


def _document_deleted(sender: Any, instance: KnowledgeDocument, **kwargs: Any) -> None:
    if IndexedSource.objects.filter(source_type=SourceType.DOCUMENT, source_id=instance.pk).exists():
        services.indexing_job_enqueue(SourceType.DOCUMENT, instance.pk, action="remove", reason="delete")


def _document_saved(sender: Any, instance: KnowledgeDocument, created: bool, **kwargs: Any) -> None:
    # Audience or collection changes of a live document change who may see it.
    if kwargs.get("raw") or created or not instance.live:
        return
    update_fields = kwargs.get("update_fields")
    if update_fields is None or {"audience", "collection", "owner"} & set(update_fields):
        if IndexedSource.objects.filter(source_type=SourceType.DOCUMENT, source_id=instance.pk).exists():
            services.indexing_job_enqueue(SourceType.DOCUMENT, instance.pk, reason="access change")


def _collection_restriction_changed(sender: Any, instance: CollectionViewRestriction, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    collection = Collection.objects.filter(pk=instance.collection_id).first()
    if collection is None:
        return
    collections = Collection.objects.descendant_of(collection, inclusive=True)
    for document_id in KnowledgeDocument.objects.filter(collection__in=collections, live=True).values_list(
        "pk", flat=True
    ):
        services.indexing_job_enqueue(SourceType.DOCUMENT, document_id, reason="privacy change")


def _collection_restriction_groups_changed(
    sender: Any, instance: CollectionViewRestriction, action: str, **kwargs: Any
) -> None:
    if action in {"post_add", "post_remove", "post_clear"}:
        _collection_restriction_changed(sender, instance)


def register_signal_handlers() -> None:
    uid = "knowledgebase"
    page_published.connect(_page_published, sender=KnowledgePage, dispatch_uid=f"{uid}-page-published")
    page_unpublished.connect(_page_unpublished, sender=KnowledgePage, dispatch_uid=f"{uid}-page-unpublished")
    post_page_move.connect(_page_tree_changed, dispatch_uid=f"{uid}-page-moved")
    page_slug_changed.connect(_page_tree_changed, dispatch_uid=f"{uid}-page-slug")
    post_delete.connect(_page_deleted, sender=KnowledgePage, dispatch_uid=f"{uid}-page-deleted")
    post_save.connect(_page_restriction_changed, sender=PageViewRestriction, dispatch_uid=f"{uid}-pvr-saved")
    post_delete.connect(
        _page_restriction_changed, sender=PageViewRestriction, dispatch_uid=f"{uid}-pvr-deleted"
    )
    m2m_changed.connect(
        _page_restriction_groups_changed,
        sender=PageViewRestriction.groups.through,
        dispatch_uid=f"{uid}-pvr-groups",
    )
    published.connect(_document_published, sender=KnowledgeDocument, dispatch_uid=f"{uid}-doc-published")
    unpublished.connect(
        _document_unpublished, sender=KnowledgeDocument, dispatch_uid=f"{uid}-doc-unpublished"
    )
    post_delete.connect(_document_deleted, sender=KnowledgeDocument, dispatch_uid=f"{uid}-doc-deleted")
    post_save.connect(_document_saved, sender=KnowledgeDocument, dispatch_uid=f"{uid}-doc-saved")
    post_save.connect(
        _collection_restriction_changed, sender=CollectionViewRestriction, dispatch_uid=f"{uid}-cvr-saved"
    )
    post_delete.connect(
        _collection_restriction_changed, sender=CollectionViewRestriction, dispatch_uid=f"{uid}-cvr-deleted"
    )
    m2m_changed.connect(
        _collection_restriction_groups_changed,
        sender=CollectionViewRestriction.groups.through,
        dispatch_uid=f"{uid}-cvr-groups",
    )
