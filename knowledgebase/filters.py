"""The sources a search's filters match (search.filters), read from the live content: a section is a page
and its subtree in Wagtail's tree, a collection includes its sub-collections, dates are the last
publication (a file live without a published revision: its last change). Pages have no collection and
files are not in the page tree, so a collection filter matches files only and a section filter pages
only; pages and files both carry tags. Registered with search in
KnowledgebaseConfig.ready()."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce, TruncDate
from wagtail.models import Collection, Page, Site
from wagtail.models.sites import get_site_for_hostname

from knowledgebase.models import KnowledgeDocument, KnowledgePage
from knowledgebase.models.documents import KnowledgeDocumentTag
from knowledgebase.models.indexing import SourceType
from knowledgebase.models.pages import KnowledgePageTag
from search.filters import SearchFilters
from search.values import source_key


def page_at_url(url: str) -> Page | None:
    """The page a site serves at `url` (absolute, or a path on the default site), by its tree path."""
    parts = urlsplit(url.strip())
    try:
        site = get_site_for_hostname(parts.hostname or "", parts.port or 80)
    except Site.DoesNotExist:
        return None
    relative = (parts.path or "/").strip("/")
    url_path = site.root_page.url_path + (f"{relative}/" if relative else "")
    return Page.objects.filter(url_path=url_path).first()


def _section(value: str) -> Page | None:
    kind, _, raw_id = value.partition(":")
    if kind == SourceType.PAGE and raw_id.isdigit():
        return Page.objects.filter(pk=int(raw_id)).first()
    return page_at_url(value)


def _collections(value: str) -> QuerySet[Collection]:
    roots = (
        Collection.objects.filter(pk=int(value))
        if value.isdigit()
        else Collection.objects.filter(name__iexact=value)
    )
    matched = Collection.objects.none()
    for root in roots:
        matched |= Collection.objects.descendant_of(root, inclusive=True)
    return matched


def _dated(queryset: QuerySet[Any], filters: SearchFilters, *, fallback: str | None = None) -> QuerySet[Any]:
    """Dated by the last publication; `fallback` for sources live without one (an upload is live when
    saved, with no revision published)."""
    if not (filters.updated_after or filters.updated_before):
        return queryset
    when = Coalesce("last_published_at", fallback) if fallback else F("last_published_at")
    queryset = queryset.annotate(filter_date=TruncDate(when))
    if filters.updated_after:
        queryset = queryset.filter(filter_date__gte=filters.updated_after)
    if filters.updated_before:
        queryset = queryset.filter(filter_date__lte=filters.updated_before)
    return queryset


def _tagged(queryset: QuerySet[Any], through: type[Any], filters: SearchFilters) -> QuerySet[Any]:
    for tag in filters.tags:  # every tag given, matched without regard to case
        queryset = queryset.filter(
            pk__in=through.objects.filter(tag__name__iexact=tag).values("content_object_id")
        )
    return queryset


def _pages(filters: SearchFilters) -> QuerySet[Any]:
    pages = KnowledgePage.objects.live()
    if filters.section:
        section = _section(filters.section)
        if section is None:
            return pages.none()
        pages = pages.descendant_of(section, inclusive=True)
    return _dated(_tagged(pages, KnowledgePageTag, filters), filters)


def _documents(filters: SearchFilters) -> QuerySet[Any]:
    documents = KnowledgeDocument.objects.filter(live=True)
    if filters.collection:
        documents = documents.filter(collection__in=_collections(filters.collection))
    return _dated(_tagged(documents, KnowledgeDocumentTag, filters), filters, fallback="updated_at")


def filter_sources(filters: SearchFilters) -> set[str]:
    """Source keys ("page:12", "document:3") of the live sources matching every filter given."""
    keys: set[str] = set()
    if filters.content_type in (None, "page") and not filters.collection:
        keys |= {source_key(SourceType.PAGE, pk) for pk in _pages(filters).values_list("pk", flat=True)}
    if filters.content_type in (None, "file") and not filters.section:
        keys |= {
            source_key(SourceType.DOCUMENT, pk) for pk in _documents(filters).values_list("pk", flat=True)
        }
    return keys
