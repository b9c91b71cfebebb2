"""Reads from the knowledge index: the retrieval the chatbot and the search command use."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence

from django.conf import settings

from search.backends import get_search_backend
from search.backends.base import ChunkState
from search.filters import SearchFilters, filters_scope
from search.rerankers import get_reranker
from search.retrieval import QueryExpander, RetrievalConfig, RetrievalResult, retrieve
from search.services import index_embedder
from search.values import Hit, Principal


def retrieval_search(
    query: str | bytes,
    *,
    principal: Principal,
    k: int = 10,
    scope: Collection[str] | None = None,
    filters: SearchFilters | None = None,
    backend_alias: str = "default",
    history: Sequence[Mapping[str, str]] = (),
    expanders: Sequence[QueryExpander] | None = None,
    config: RetrievalConfig | None = None,
) -> RetrievalResult:
    """Hits with each leg's raw candidates and timings (for evaluation, debugging and the search command).
    `filters` narrow `scope` to the sources they match (search.filters).

    Raises InvalidQuery (empty query, bad filters), SearchUnavailable (the engine failed), EmbeddingError."""
    config = config or RetrievalConfig.from_settings()
    return retrieve(
        query,
        principal=principal,
        k=k,
        scope=filters_scope(filters, scope),
        backend=get_search_backend(backend_alias),
        embedder=index_embedder(),
        reranker=get_reranker(_setting("RERANKER", "default")),
        config=config,
        history=history,
        expanders=expanders,
    )


def hits_search(
    query: str | bytes,
    *,
    principal: Principal,
    k: int = 10,
    scope: Collection[str] | None = None,
    filters: SearchFilters | None = None,
    backend_alias: str = "default",
    history: Sequence[Mapping[str, str]] = (),
    expanders: Sequence[QueryExpander] | None = None,
) -> list[Hit]:
    """The k best chunks `principal` may see for `query`, fused from BM25 and kNN, re-ranked, at most
    MAX_PER_SOURCE per source. `scope` limits to source keys ("page:12"); `history` ([{role, content}])
    goes to the configured query expanders (or `expanders`, which replace them)."""
    return retrieval_search(
        query,
        principal=principal,
        k=k,
        scope=scope,
        filters=filters,
        backend_alias=backend_alias,
        history=history,
        expanders=expanders,
    ).hits


def chunk_states(*, backend_alias: str = "default") -> Iterator[ChunkState]:
    """Every chunk the index holds, with its source, revision and access (for the index audit)."""
    return get_search_backend(backend_alias).chunk_states()


def _setting(key: str, default: str) -> str:

    return str(getattr(settings, "KNOWLEDGE_RETRIEVAL", {}).get(key, default))
