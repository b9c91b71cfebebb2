"""One answer in the making: what the pipeline (chatbot/rag/pipeline.py) records as it goes, how it
finishes (its citations re-checked against the database) and the stream events it ends with. The service
(chatbot/services.py) saves it and caches it; nothing else writes."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from chatbot.events import StreamEvent, error_event
from chatbot.llm import BaseLLM
from knowledgebase.selectors import sources_visible_to
from search.filters import SearchFilters
from search.values import Principal

from .citations import cited_numbers, markers_filter
from .config import RagConfig
from .context import ContextSource
from .prompts import DONT_KNOW
from .quality import AnswerQuality, CitedPassage, answer_quality

logger = logging.getLogger(__name__)

DECLINE_ANSWER = f"{DONT_KNOW} I couldn't find anything about it in the pages and documents you can see."
SEARCH_DOWN = (
    "Search is temporarily unavailable, so I can't look this up right now. Please try again shortly."
)
LLM_DOWN = "The answer service is temporarily unavailable. Please try again shortly."
# A decline offers at most this many of the pages and files retrieval found closest: places to read, not an
# answer. Of the 70 answerable Wagtail docs questions, 19 are declined, 14 of them with a judged page among
# these three (`evaluate_rag`'s declined_related_relevant, chatbot/RAG.md).
RELATED_PLACES = 3
INTERNAL = "Something went wrong while answering. Please try again."


def sources_visible(keys: set[tuple[str, int]], principal: Principal) -> set[tuple[str, int]]:
    """Of these sources, those still live and visible to the asker (the database re-check)."""
    return sources_visible_to(keys, principal) if keys else set()


@dataclass
class AnswerRun:
    """The state of one answer, filled in as the pipeline goes."""

    question: str
    history: list[dict[str, str]]
    principal: Principal
    scope: list[str] | None
    message_id: str
    config: RagConfig
    llm: BaseLLM
    filters: SearchFilters | None = None  # the session's section/type/collection/tag/date filters
    started: float = field(default_factory=time.perf_counter)
    query: str = ""
    parts: list[str] = field(default_factory=list)
    sources: list[ContextSource] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    # On a decline: the sources the answer was given but could not quote or cite, and the distinct pages
    # and files among them still visible to the asker (ContextSource.place).
    nearby: list[ContextSource] = field(default_factory=list)
    related: list[dict[str, Any]] = field(default_factory=list)
    retrieval_time: float | None = None
    first_token_time: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_key: str = ""
    cache_hit: bool = False
    declined: bool = False
    best_knn: float | None = None  # the retrieval's best vector score, None without a vector leg
    quality: AnswerQuality | None = None
    status: str = "complete"  # chatbot.models.Message.Status values
    error_code: str = ""
    error: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def content(self) -> str:
        return "".join(self.parts).strip()

    @property
    def tokens_used(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def model(self) -> str:
        return self.llm.model_name or self.llm.alias

    def token(self, text: str) -> StreamEvent:
        if self.first_token_time is None:
            self.first_token_time = time.perf_counter() - self.started
        self.parts.append(text)
        return StreamEvent(type="token", data={"content": text, "message_id": self.message_id})

    def fail(self, code: str, message: str, detail: str) -> None:
        """The saved message and the API carry the code and the user-facing message; the internal detail
        (exception text, hosts, paths) goes to the log only."""
        self.status, self.error_code, self.error = "error", code, message
        logger.warning("answer %s failed (%s): %s", self.message_id, code, detail[:2000])

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    # --- finishing (blocking: call from a thread) -----------------------------------------------
    def finalise(self) -> None:
        """The sources the answer cites, re-checked once more against the database; markers of any that
        fail are removed from the content. A replayed, failed or declined answer cites what it has."""
        if self.cache_hit or self.status == "error":
            return
        if self.declined:
            self.related = self._related(self.nearby or self.sources)
            self.sources, self.citations = [], []
            return
        by_number = {s.number: s for s in self.sources}
        numbers = [n for n in cited_numbers(self.content) if n in by_number]
        visible = sources_visible({by_number[n].key for n in numbers}, self.principal)
        allowed = [n for n in numbers if by_number[n].key in visible]
        if allowed != numbers:
            self.parts = [markers_filter(self.content, allowed=set(allowed))]
        self.citations = [by_number[n].citation() for n in allowed]
        if self.content:
            self.quality = self._quality([by_number[n] for n in allowed])

    def _related(self, given: list[ContextSource]) -> list[dict[str, Any]]:
        """The distinct pages and files of `given`, best first, re-checked against the database like
        citations. A decline for being off-topic was given none."""
        first: dict[tuple[str, int], ContextSource] = {}
        for source in given:
            first.setdefault(source.key, source)
        visible = sources_visible(set(first), self.principal)
        return [s.place() for key, s in first.items() if key in visible][:RELATED_PLACES]

    def _quality(self, cited: list[ContextSource]) -> AnswerQuality:
        return answer_quality(
            question=self.query or self.question,
            content=self.content,
            cited=[
                CitedPassage(
                    number=s.number,
                    text=s.text,
                    fused=s.scores.get("fused", s.score),
                    heading=s.chunk.location,
                )
                for s in cited
            ],
            given=[s.text for s in self.sources],
            best_knn=self.best_knn,
        )

    @property
    def cacheable(self) -> bool:
        return not self.cache_hit and self.status == "complete" and bool(self.cache_key)

    def cache_payload(self) -> dict[str, Any]:
        """What a repeat of the question replays (chatbot.rag.cache)."""
        return {
            "content": self.content,
            "sources": self.citations,
            "declined": self.declined,
            "related": self.related,
            "model": self.model,
            "tokens_used": self.tokens_used,
            "quality": self.quality.as_dict() if self.quality else None,
        }

    # --- the stream's last events ---------------------------------------------------------------
    def error_event(self) -> StreamEvent:
        return error_event(code=self.error_code, message=self.error, message_id=self.message_id)

    def source_events(self) -> list[StreamEvent]:
        return [StreamEvent(type="source", data=dict(source)) for source in self.citations]

    def complete_event(self, *, message_id: str, tokens_used: int, response_time: float) -> StreamEvent:
        return StreamEvent(
            type="complete",
            data={
                "message_id": message_id,
                "content": self.content,
                "sources": self.citations,
                "status": self.status,
                "tokens_used": tokens_used,
                "response_time": round(response_time, 3),
                "model": self.model[:200],
                "declined": self.declined,
                "related": self.related,
                "quality": self.quality.as_dict() if self.quality else None,
            },
        )
