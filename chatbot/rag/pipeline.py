"""The answer pipeline behind `chatbot.services.answer_stream`: condense → cache → retrieve (re-checked
against the database) → decline or generate.

It yields `token` events and records everything else on an `AnswerRun` (chatbot/rag/run.py), which
finishes itself (the cited sources re-checked) and builds the final events; the service saves and caches.
Blocking work (cache, embedder, Elasticsearch, database) runs in threads, so the event loop that serves
other streams is never blocked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncGenerator, Collection, Mapping, Sequence
from contextlib import aclosing
from dataclasses import replace
from functools import partial
from typing import Any

from chatbot.events import StreamEvent
from chatbot.llm import GenerationChunk, LLMError
from chatbot.llm.base import approximate_token_count
from chatbot.llm.extractive import SourcePassage, extractive_answer, sentences_stream
from chatbot.logging import question_for_log
from datacollection.db import db_step
from datacollection.gates import loop_gate
from search.errors import KnowledgeError, SearchUnavailable
from search.filters import SearchFilters
from search.selectors import hits_search
from search.values import Hit, Principal

from . import cache
from .citations import MarkerStreamFilter, cited_numbers
from .condense import looks_like_follow_up, previous_question, question_condense
from .context import context_build
from .prompts import answer_messages, source_text_neutralise
from .quality import AnswerQuality
from .run import DECLINE_ANSWER, LLM_DOWN, SEARCH_DOWN, AnswerRun, sources_visible

logger = logging.getLogger(__name__)

_DONT_KNOW_PHRASES = re.compile(
    r"doesn't cover|does not cover|don't know|do not know|not (?:contain|mention|cover)|no information", re.I
)
_WORD_GROUP = re.compile(r"\S+(?:\s+\S+){0,2}\s*")
# A follow-up also searches within the previous question's best source (hits_for_turn): the one its
# answer leads with. Not more: in a small index the next ones are whatever else matched, often the very
# pages the follow-up's own words already favour.
FOLLOW_UP_SOURCES = 1
RRF_K = 60


def work_gate(size: int) -> asyncio.Semaphore:
    """The gate on the answers' CPU-bound steps (retrieval with its query embedding, extractive quoting):
    at most `size` at once, the others wait their turn in the event loop, first come first served.

    Why: with no gate, 100 questions arriving at once each ran retrieval in a thread of its own; the threads
    shared the cores (and the GIL) evenly, so every answer waited for all of them, and the requests behind
    them waited to open their streams. Streaming the model's tokens is not gated: that is waiting, not work.
    """
    return loop_gate("answer-work", size)


# --- blocking steps (run in threads) ------------------------------------------------------------


def hits_checked(
    query: str,
    *,
    principal: Principal,
    k: int,
    scope: Collection[str] | None = None,
    filters: SearchFilters | None = None,
    backend_alias: str = "default",
) -> list[Hit]:
    """Hits `principal` may see, re-checked against the database (live, still visible to them): what
    answers are built from and what the MCP search tool (chatbot/mcp) returns. `filters` narrow the
    scope (search.filters); they never widen what the principal may see."""
    hits = hits_search(
        query,
        principal=principal,
        k=k,
        scope=scope,
        filters=filters,
        backend_alias=backend_alias,
        expanders=[],
    )
    visible = sources_visible({(h.chunk.source_type, h.chunk.source_id) for h in hits}, principal)
    return [h for h in hits if (h.chunk.source_type, h.chunk.source_id) in visible]


def hits_for_turn(
    query: str,
    *,
    question: str,
    history: Sequence[Mapping[str, str]],
    principal: Principal,
    k: int,
    scope: Collection[str] | None = None,
    filters: SearchFilters | None = None,
    backend_alias: str = "default",
) -> list[Hit]:
    """`hits_checked` for a turn's standalone `query`. A follow-up (condense.looks_like_follow_up, with a
    previous question) also searches `query` within the source the previous question retrieves best,
    and both lists are fused by reciprocal rank: "and for snippets?" after a question about page bulk
    actions finds the snippet section of the same document, not any page that mentions snippets. The
    evaluation (chatbot/evaluation.py) scores retrieval through this same function."""
    search = partial(hits_checked, principal=principal, k=k, filters=filters, backend_alias=backend_alias)
    hits = search(query, scope=scope)
    previous = previous_question(history)
    if not previous or not looks_like_follow_up(question):
        return hits
    before = search(previous, scope=scope)
    sources = list(dict.fromkeys(h.chunk.source_key for h in before))[:FOLLOW_UP_SOURCES]
    if not sources:
        return hits
    return fuse_ranks([hits, search(query, scope=sources)], k=k)


def fuse_ranks(lists: Sequence[Sequence[Hit]], *, k: int) -> list[Hit]:
    """Reciprocal rank fusion (constant RRF_K, the usual 60: not tuned here) of hit lists; a chunk keeps
    its first list's scores."""
    fused: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for hits in lists:
        for rank, hit in enumerate(hits, start=1):
            chunk_id = hit.chunk.chunk_id
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
            first.setdefault(chunk_id, hit)
    order = sorted(fused, key=lambda chunk_id: -fused[chunk_id])[:k]
    return [replace(first[chunk_id], rank=rank) for rank, chunk_id in enumerate(order, start=1)]


def retrieve_checked(run: AnswerRun) -> list[Hit]:
    """The answer's hits: `hits_for_turn` for the condensed question, in the session's scope."""
    return hits_for_turn(
        run.query,
        question=run.question,
        history=run.history,
        principal=run.principal,
        k=run.config.retrieval_k,
        scope=run.scope or None,
        filters=run.filters,
        backend_alias=run.config.search_alias,
    )


def cached_answer(run: AnswerRun) -> dict[str, Any] | None:
    """The cached answer for this question and asker, if every source it cites is still visible."""
    version = cache.index_version()
    if version < 0 or not cache.enabled():
        return None
    config = run.config
    run.cache_key = cache.answer_key(
        run.query,
        principal=run.principal,
        scope=run.scope,
        model=run.model,
        version=version,
        options=f"{run.llm.alias}/{config.answer_tokens}/{config.extractive_sentences}"
        + (json.dumps(run.filters.as_dict(), sort_keys=True) if run.filters else ""),
    )
    value = cache.answer_get(run.cache_key)
    if value is None:
        return None
    cited = [*value.get("sources", []), *value.get("related", [])]
    keys = {(str(s["source_type"]), int(s["source_id"])) for s in cited}
    if keys and sources_visible(keys, run.principal) != keys:
        cache.answer_delete(run.cache_key)
        return None
    return value


def best_knn(hits: Sequence[Hit]) -> float | None:
    knn = [h.scores["knn"] for h in hits if "knn" in h.scores]
    return max(knn) if knn else None


def relevance(hits: Sequence[Hit]) -> float:
    """How on-topic retrieval is: the best kNN score ((1 + cosine) / 2), or 1.0 when no leg reports one
    (a re-ranker or a backend without vectors: then only the answerer can decline)."""
    knn = [h.scores["knn"] for h in hits if "knn" in h.scores]
    return max(knn) if knn else (1.0 if hits else 0.0)


# --- the pipeline ---------------------------------------------------------------------------------


async def _stream_text(run: AnswerRun, text: str) -> AsyncGenerator[StreamEvent, None]:
    for group in _WORD_GROUP.findall(text):
        yield run.token(group)
        await asyncio.sleep(run.config.stream_delay)


async def _decline(run: AnswerRun) -> AsyncGenerator[StreamEvent, None]:
    run.declined = True
    run.nearby, run.sources = run.sources, []
    async for event in _stream_text(run, DECLINE_ANSWER):
        yield event


async def _generated(run: AnswerRun) -> AsyncGenerator[StreamEvent, None]:
    messages = answer_messages(
        run.question, run.sources, history=run.history[-2 * run.config.prompt_history_turns :]
    )
    run.prompt_tokens = sum(run.llm.count_tokens(m.content) for m in messages)
    markers = MarkerStreamFilter(allowed={s.number for s in run.sources})
    usage = None
    async with aclosing(
        run.llm.stream(messages, max_tokens=run.config.answer_tokens, temperature=run.config.temperature)
    ) as chunks:
        async for chunk in chunks:
            usage = chunk.usage or usage
            text = markers.feed(chunk.text)
            if text:
                yield run.token(text)
    rest = markers.flush()
    if rest:
        yield run.token(rest)
    run.completion_tokens = usage.completion_tokens if usage else run.llm.count_tokens(run.content)
    if usage:
        run.prompt_tokens = usage.prompt_tokens
    if not cited_numbers(run.content) and _DONT_KNOW_PHRASES.search(run.content):
        run.declined = True


async def _extractive(run: AnswerRun) -> AsyncGenerator[StreamEvent, None]:
    # No model reads these, but a line addressed to one is no answer to quote either.
    passages = [
        SourcePassage(
            number=s.number,
            # The title and heading too: a quote may name them (chatbot.llm.extractive._quoted).
            title=source_text_neutralise(s.chunk.title, replacement=None),
            text=source_text_neutralise(s.text, replacement=None),
            heading=source_text_neutralise(s.chunk.heading_path[-1], replacement=None)
            if s.chunk.heading_path
            else "",
            document=s.chunk.source_key,
        )
        for s in run.sources
    ]
    quote = partial(
        extractive_answer,
        sources=passages,
        max_sentences=run.config.extractive_sentences,
        min_score=run.config.extractive_min_score,
        semantic_min_score=run.config.extractive_semantic_min_score,
    )
    # Sentences are chosen for what this turn asks: a follow-up's condensed query carries the previous
    # question's words, which favour the sentences that answered it already. The condensed query is the
    # fallback when the follow-up's own words support nothing.
    async with work_gate(run.config.concurrent_work):
        sentences = await asyncio.to_thread(quote, run.question)
        if not sentences and run.query != run.question:
            sentences = await asyncio.to_thread(quote, run.query)
    if not sentences:
        async for event in _decline(run):
            yield event
        return
    chunk: GenerationChunk
    async for chunk in sentences_stream(sentences, delay=run.config.stream_delay):
        if chunk.text:
            yield run.token(chunk.text)
    run.completion_tokens = approximate_token_count(run.content)
    run.prompt_tokens = sum(approximate_token_count(p.text) for p in passages)


async def _replay(run: AnswerRun, cached: Mapping[str, Any]) -> AsyncGenerator[StreamEvent, None]:
    run.cache_hit = True
    run.declined = bool(cached.get("declined"))
    run.related = list(cached.get("related", []))
    run.quality = AnswerQuality.from_dict(cached.get("quality"))
    run.citations = list(cached.get("sources", []))
    async for event in _stream_text(run, str(cached.get("content", ""))):
        yield event


async def answer_events(run: AnswerRun) -> AsyncGenerator[StreamEvent, None]:
    """Token events of the answer; failures are recorded on `run` (status "error") instead of raised."""
    try:
        mark = time.perf_counter()
        run.query = await question_condense(
            run.question,
            run.history,
            llm=run.llm,
            use_llm=run.config.condense_with_llm,
            max_tokens=run.config.condense_max_tokens,
            timeout=run.config.condense_timeout,
        )
        run.timings["condense"] = time.perf_counter() - mark
        async with work_gate(run.config.concurrent_work):
            cached = await db_step(cached_answer, run)
            if cached is None:
                mark = time.perf_counter()
                hits = await db_step(retrieve_checked, run)
                run.retrieval_time = time.perf_counter() - mark
        if cached is not None:
            async for event in _replay(run, cached):
                yield event
            return
        run.best_knn = best_knn(hits)
        if relevance(hits) < run.config.min_relevance:
            hits = []
        run.sources = context_build(
            hits,
            token_budget=_context_budget(run),
            max_sources=run.config.max_sources,
            count_tokens=run.llm.count_tokens,
        )
        run.timings["before_generation"] = run.elapsed()
        logger.debug(
            "answer %s: query=%s hits=%d sources=%d relevance=%.3f",
            run.message_id,
            question_for_log(run.query),
            len(hits),
            len(run.sources),
            relevance(hits),
        )
        if not run.sources:
            steps = _decline(run)
        elif run.llm.supports_generation:
            steps = _generated(run)
        else:
            steps = _extractive(run)
        async with aclosing(steps) as events:
            async for event in events:
                yield event
    except SearchUnavailable as e:
        run.fail("search_unavailable", SEARCH_DOWN, e.message)
    except LLMError as e:
        run.fail("llm_unavailable", LLM_DOWN, e.message)
    except KnowledgeError as e:  # embedding failed, index mismatch, invalid query: search cannot answer
        run.fail("search_unavailable", SEARCH_DOWN, e.message)


def _context_budget(run: AnswerRun) -> int:
    if not run.llm.supports_generation:
        return run.config.context_tokens
    # What the model's window leaves after the rules, the question, the history and the answer.
    overhead = (
        400
        + run.llm.count_tokens(run.question)
        + sum(run.llm.count_tokens(t["content"]) for t in run.history)
    )
    return max(
        0, min(run.config.context_tokens, run.llm.context_tokens - run.config.answer_tokens - overhead)
    )


def scope_of(session_scope: Collection[str] | None) -> list[str] | None:
    return sorted(str(s) for s in session_scope) if session_scope else None


def filters_of(session_settings: Any) -> SearchFilters | None:
    """A session's filters (`settings.filters`, validated when they were set), None without any."""
    stored = session_settings.get("filters") if isinstance(session_settings, dict) else None
    filters = SearchFilters.from_dict(stored) if stored else None
    return filters if filters is not None and not filters.empty else None
