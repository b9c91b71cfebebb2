"""Hybrid retrieval: expand → embed → both legs (pre-filtered by visibility) → fuse → re-rank → diversify.

The same code answers the chatbot (`search.selectors.hits_search`) and `manage.py evaluate_retrieval`, so
the measured figures in `search/RETRIEVAL.md` are the product's.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field, replace
from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from search import fusion
from search.backends.base import BaseSearchBackend, ScoredChunk
from search.embedders.base import BaseEmbedder
from search.errors import EmbeddingError, InvalidQuery, KnowledgeError, SearchUnavailable
from search.rerankers.base import BaseReranker, RerankError
from search.values import Chunk, Hit, Principal

logger = logging.getLogger(__name__)

TEXT_LEG = "bm25"
VECTOR_LEG = "knn"

# A query expander rewrites the question before retrieval, e.g. a follow-up condensed with the chat
# history ("and for snippets?" → "how to add revisions for snippets"). Identity when none is configured.
QueryExpander = Callable[..., str]  # (query: str, *, history: Sequence[Mapping[str, str]]) -> str


RETRIEVAL_KEYS = {"RERANKER", "CANDIDATES", "FUSION", "FUSION_PARAMS", "MAX_PER_SOURCE", "MAX_QUERY_CHARS"}


def _known_keys_check(raw: Mapping[str, Any]) -> None:
    """A misspelt key would silently keep the default; refuse it instead."""
    if "EMBEDDER" in raw:
        raise ImproperlyConfigured(
            "KNOWLEDGE_RETRIEVAL['EMBEDDER'] is gone: KNOWLEDGE_EMBEDDER names the embedder for indexing and "
            "retrieval alike."
        )
    unknown = sorted(set(raw) - RETRIEVAL_KEYS)
    if unknown:
        raise ImproperlyConfigured(
            f"KNOWLEDGE_RETRIEVAL has unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(RETRIEVAL_KEYS))}."
        )


@dataclass(frozen=True, kw_only=True)
class RetrievalConfig:
    candidates: int = 100  # per leg
    fusion: str = "adaptive_convex"
    fusion_params: Mapping[str, Any] = field(default_factory=dict)
    max_per_source: int = 3  # diversity: at most this many chunks of one source in the results
    max_query_chars: int = 2000

    @classmethod
    def from_settings(cls, **overrides: Any) -> RetrievalConfig:
        raw = dict(getattr(settings, "KNOWLEDGE_RETRIEVAL", {}))
        _known_keys_check(raw)
        values: dict[str, Any] = {
            "candidates": int(raw.get("CANDIDATES", cls.candidates)),
            "fusion": str(raw.get("FUSION", cls.fusion)),
            "fusion_params": dict(raw.get("FUSION_PARAMS", {})),
            "max_per_source": int(raw.get("MAX_PER_SOURCE", cls.max_per_source)),
            "max_query_chars": int(raw.get("MAX_QUERY_CHARS", cls.max_query_chars)),
        }
        values.update(overrides)
        if values["fusion"] not in fusion.FUSIONS:
            raise ImproperlyConfigured(
                f"KNOWLEDGE_RETRIEVAL['FUSION'] = {values['fusion']!r}; known: {', '.join(fusion.FUSIONS)}."
            )
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class RetrievalResult:
    query: str  # as searched, after cleaning and expansion
    hits: list[Hit]
    legs: Mapping[str, list[ScoredChunk]]  # each leg's raw candidates, best first
    timings: Mapping[str, float]  # seconds: expand, embed, bm25, knn, fuse, rerank, total
    degraded: tuple[str, ...] = ()  # optional stages that failed and were skipped (e.g. "rerank")


# --- query ---------------------------------------------------------------------------------------
def clean_query(query: str | bytes, *, max_chars: int = 2000) -> str:
    """Decode bytes (undecodable bytes become U+FFFD), drop control characters, cap the length.

    Raises InvalidQuery for an empty or whitespace-only query."""
    if isinstance(query, bytes):
        query = query.decode("utf-8", errors="replace")
    if not isinstance(query, str):
        raise InvalidQuery(f"A query must be text, not {type(query).__name__}.")
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in query)
    text = " ".join(text.split())
    if not text or not any(ch.isalnum() for ch in text):
        raise InvalidQuery("The query is empty.", extra={"length": len(query)})
    # BM25 matches the start of a pasted wall of text and the embedder reads its first 256 word-pieces:
    # the cap only bounds the engine's work.
    return text[:max_chars]


def configured_expanders() -> list[QueryExpander]:
    expanders = []
    for path in getattr(settings, "KNOWLEDGE_QUERY_EXPANDERS", []):
        module_path, _, name = path.rpartition(".")
        try:
            expanders.append(getattr(import_module(module_path), name))
        except (ImportError, AttributeError, ValueError) as e:
            raise ImproperlyConfigured(f"KNOWLEDGE_QUERY_EXPANDERS: cannot load {path!r} ({e}).") from e
    return expanders


def expand_query(
    query: str, *, history: Sequence[Mapping[str, str]], expanders: Sequence[QueryExpander]
) -> str:
    for expander in expanders:
        expanded = expander(query, history=history)
        if expanded and expanded.strip():
            query = expanded.strip()
    return query


# --- fusion, re-ranking, diversity ---------------------------------------------------------------
def fuse_legs(legs: Mapping[str, Sequence[ScoredChunk]], *, config: RetrievalConfig) -> list[Hit]:
    """Every candidate of either leg, fused, best first, with per-leg scores and ranks."""
    chunks: dict[str, Chunk] = {}
    scores: dict[str, dict[str, float]] = {}
    ranks: dict[str, dict[str, int]] = {}
    ranked: dict[str, list[tuple[str, float]]] = {}
    for leg, results in legs.items():
        ranked[leg] = []
        for position, scored in enumerate(results, start=1):
            chunk_id = scored.chunk.chunk_id
            if chunk_id in scores.get(leg, {}):
                continue
            chunks.setdefault(chunk_id, scored.chunk)
            scores.setdefault(chunk_id, {})[leg] = scored.score
            ranks.setdefault(chunk_id, {})[leg] = position
            ranked[leg].append((chunk_id, scored.score))
    params = dict(config.fusion_params)
    if config.fusion in ("adaptive_convex", "agreement_convex"):
        params.setdefault("text_leg", TEXT_LEG)
        params.setdefault("vector_leg", VECTOR_LEG)
        # The legs' agreement is judged on sources: two sections of one page are the same answer.
        params.setdefault("groups", {chunk_id: chunk.source_key for chunk_id, chunk in chunks.items()})
    fused = fusion.fuse(ranked, method=config.fusion, **params)
    hits = []
    for position, (chunk_id, value) in enumerate(fused, start=1):
        hits.append(
            Hit(
                chunk=chunks[chunk_id],
                scores={**scores[chunk_id], "fused": value},
                ranks={**ranks[chunk_id], "fused": position},
                score=value,
                rank=position,
            )
        )
    return hits


def passage_for_reranking(chunk: Chunk) -> str:
    header = chunk.location
    return f"{header}\n{chunk.text}" if header else chunk.text


def rerank_hits(query: str, hits: list[Hit], *, reranker: BaseReranker) -> list[Hit]:
    """Re-score the top `reranker.top_n` hits; the rest keep their order below them."""
    head, tail = hits[: reranker.top_n], hits[reranker.top_n :]
    if not head:
        return hits
    values = reranker.score(query, [passage_for_reranking(h.chunk) for h in head])
    order = sorted(range(len(head)), key=lambda i: (-values[i], head[i].rank))
    reranked = []
    for position, i in enumerate(order, start=1):
        hit = head[i]
        reranked.append(
            replace(
                hit,
                scores={**hit.scores, "rerank": values[i]},
                ranks={**hit.ranks, "rerank": position},
                score=values[i],
            )
        )
    return reranked + tail


def diversify(hits: Sequence[Hit], *, k: int, max_per_source: int) -> list[Hit]:
    """The first k hits with at most `max_per_source` chunks per source; hits over the cap only fill
    places no other source can (better a fourth chunk of one page than an empty slot)."""
    chosen: list[Hit] = []
    overflow: list[Hit] = []
    per_source: dict[str, int] = {}
    for hit in hits:
        key = hit.chunk.source_key
        if max_per_source > 0 and per_source.get(key, 0) >= max_per_source:
            overflow.append(hit)
            continue
        per_source[key] = per_source.get(key, 0) + 1
        chosen.append(hit)
        if len(chosen) >= k:
            break
    chosen.extend(overflow[: max(0, k - len(chosen))])
    return [replace(hit, rank=position) for position, hit in enumerate(chosen, start=1)]


# --- the pipeline --------------------------------------------------------------------------------
def _engine_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [DatabaseError, OSError]
    try:
        from elastic_transport import TransportError
        from elasticsearch import ApiError

        errors += [TransportError, ApiError]
    except ImportError:  # pragma: no cover - the client is a dependency
        pass
    return tuple(errors)


def _leg(name: str, call: Callable[[], list[ScoredChunk]], backend: BaseSearchBackend) -> list[ScoredChunk]:
    try:
        return call()
    except KnowledgeError:
        raise
    except _engine_errors() as e:
        raise SearchUnavailable(
            f"The {name} search on {backend.alias!r} failed: {e}", extra={"backend": backend.alias}
        ) from e


_POOL_LOCK = threading.Lock()
_POOL: ThreadPoolExecutor | None = None


def _leg_pool() -> ThreadPoolExecutor:
    """One small pool per process, created on first use."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="search-leg")
        return _POOL


def _forget_pool_after_fork() -> None:
    # A forked child (a Celery prefork worker) inherits the pool object but not its threads.
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _query_prepare(
    query: str | bytes,
    *,
    config: RetrievalConfig,
    history: Sequence[Mapping[str, str]],
    expanders: Sequence[QueryExpander] | None,
) -> str:
    """The query as searched: cleaned, then rewritten by the expanders (the configured ones by default)."""
    text = clean_query(query, max_chars=config.max_query_chars)
    if expanders is None:
        expanders = configured_expanders()
    if expanders:
        text = clean_query(
            expand_query(text, history=history, expanders=expanders), max_chars=config.max_query_chars
        )
    return text


def retrieve(
    query: str | bytes,
    *,
    principal: Principal,
    k: int,
    backend: BaseSearchBackend,
    embedder: BaseEmbedder,
    reranker: BaseReranker | None = None,
    config: RetrievalConfig | None = None,
    scope: Collection[str] | None = None,
    history: Sequence[Mapping[str, str]] = (),
    expanders: Sequence[QueryExpander] | None = None,
) -> RetrievalResult:
    config = config or RetrievalConfig.from_settings()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    text = _query_prepare(query, config=config, history=history, expanders=expanders)
    timings["expand"] = time.perf_counter() - started

    candidates = max(config.candidates, k)

    def text_leg() -> list[ScoredChunk]:
        mark = time.perf_counter()
        try:
            return _leg(
                "text",
                lambda: backend.search_text(text, principal=principal, k=candidates, scope=scope),
                backend,
            )
        finally:
            timings["bm25"] = time.perf_counter() - mark

    # On an HTTP engine the BM25 leg runs while the query is embedded and the kNN leg runs.
    # The caller's context (request id for the logs) goes with it.
    pending: Future[list[ScoredChunk]] | None = (
        _leg_pool().submit(contextvars.copy_context().run, text_leg) if backend.concurrent_legs else None
    )
    try:
        mark = time.perf_counter()
        try:
            vector = embedder.embed_query(text)
        except EmbeddingError:
            raise
        except (OSError, RuntimeError, ValueError) as e:
            raise EmbeddingError(f"Embedding the query failed: {e}") from e
        timings["embed"] = time.perf_counter() - mark

        mark = time.perf_counter()
        vector_hits = _leg(
            "vector",
            lambda: backend.search_vector(
                vector.tolist(), principal=principal, k=candidates, scope=scope, model=embedder.identity
            ),
            backend,
        )
        timings["knn"] = time.perf_counter() - mark
    except BaseException:
        # The first failure is the one reported; the BM25 request is still awaited, never left running.
        if pending is not None:
            with suppress(Exception):
                pending.result()
        raise
    text_hits = pending.result() if pending is not None else text_leg()

    mark = time.perf_counter()
    legs = {TEXT_LEG: text_hits, VECTOR_LEG: vector_hits}
    hits = fuse_legs(legs, config=config)
    timings["fuse"] = time.perf_counter() - mark

    degraded: list[str] = []
    mark = time.perf_counter()
    if reranker is not None and reranker.enabled:
        try:
            hits = rerank_hits(text, hits, reranker=reranker)
        except RerankError as e:
            # The fused order is still a good answer; say so instead of failing the question.
            logger.warning("re-ranking skipped: %s", e)
            degraded.append("rerank")
    timings["rerank"] = time.perf_counter() - mark

    hits = diversify(hits, k=k, max_per_source=config.max_per_source)
    timings["total"] = time.perf_counter() - started
    return RetrievalResult(query=text, hits=hits, legs=legs, timings=timings, degraded=tuple(degraded))
