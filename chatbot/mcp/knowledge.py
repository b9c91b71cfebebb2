"""What the MCP tools read, as the chat reads it: retrieval with the visibility filter and the database
re-check (`chatbot.rag.pipeline.hits_checked`, the path answers are built from), and a source's indexed
passages once the same re-check allows it. Blocking: call from a thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.urls import Resolver404, resolve

from chatbot.rag.context import excerpt
from chatbot.rag.pipeline import hits_checked
from chatbot.rag.run import sources_visible
from knowledgebase.filters import page_at_url
from knowledgebase.models import KnowledgePage
from knowledgebase.models.indexing import SourceType
from knowledgebase.selectors import source_chunks_indexed
from search.filters import SearchFilters
from search.values import Chunk, Hit, Principal, source_key
from search.visibility import Access, access_allows

# A whole long document would flood an assistant's context: a source is cut here (and says so).
SOURCE_MAX_CHARS = 20_000
SEARCH_MAX_K = 50


@dataclass(frozen=True, kw_only=True)
class Passage:
    """One retrieved passage: where it is (a link with its section's anchor) and its first words."""

    doc_id: str
    title: str
    section: str
    url: str
    page_number: int | None
    excerpt: str
    score: float


@dataclass(frozen=True, kw_only=True)
class SourcePassage:
    section: str
    anchor: str
    page_number: int | None
    text: str


@dataclass(frozen=True, kw_only=True)
class SourceText:
    doc_id: str
    title: str
    url: str
    passages: list[SourcePassage] = field(default_factory=list)
    truncated: bool = False


def chunk_link(chunk: Chunk) -> str:
    return f"{chunk.url}#{chunk.anchor}" if chunk.url and chunk.anchor else chunk.url


def passages_search(
    query: str,
    *,
    principal: Principal,
    k: int,
    scope: list[str] | None = None,
    filters: SearchFilters | None = None,
) -> list[Passage]:
    """The best passages `principal` may see for `query`. Raises the search layer's KnowledgeErrors."""
    hits: list[Hit] = hits_checked(
        query, principal=principal, k=max(1, min(k, SEARCH_MAX_K)), scope=scope, filters=filters
    )
    return [
        Passage(
            doc_id=hit.chunk.source_key,
            title=hit.chunk.title,
            section=hit.chunk.section,
            url=chunk_link(hit.chunk),
            page_number=hit.chunk.page_number,
            excerpt=excerpt(hit.chunk.text),
            score=round(hit.score, 4),
        )
        for hit in hits
    ]


def source_for_url(url: str) -> tuple[str, int] | None:
    """The knowledge source a cited link points to: a document's page, or a page served by a site."""
    path = urlsplit(url.strip()).path or "/"
    try:
        match = resolve(path)
    except Resolver404:
        match = None
    if match is not None and match.view_name == "knowledgebase:document":
        return (SourceType.DOCUMENT, int(match.kwargs["document_id"]))
    page = page_at_url(url)
    if page is None or page.specific_class is not KnowledgePage:
        return None
    return (SourceType.PAGE, page.pk)


def source_read(url: str, *, principal: Principal) -> SourceText | None:
    """The indexed passages of the source at `url` (only its section when the link has an anchor that
    names one), or None when there is no such source or `principal` may not see it: both look the same."""
    key = source_for_url(url)
    if key is None or key not in sources_visible({key}, principal):
        return None
    chunks = [
        chunk
        for chunk in source_chunks_indexed(*key)
        # What the index holds must be allowed too (as the engines' filter would), in case it lags.
        if access_allows(
            Access(visibility=chunk.visibility, group_ids=chunk.group_ids, owner_id=chunk.owner_id), principal
        )
    ]
    if not chunks:
        return None
    anchor = urlsplit(url).fragment
    section = [chunk for chunk in chunks if anchor and chunk.anchor == anchor]
    passages: list[SourcePassage] = []
    size = 0
    truncated = False
    for chunk in section or chunks:
        if size + len(chunk.text) > SOURCE_MAX_CHARS and passages:
            truncated = True
            break
        size += len(chunk.text)
        passages.append(
            SourcePassage(
                section=chunk.section, anchor=chunk.anchor, page_number=chunk.page_number, text=chunk.text
            )
        )
    first = chunks[0]
    return SourceText(
        doc_id=source_key(*key), title=first.title, url=first.url, passages=passages, truncated=truncated
    )
