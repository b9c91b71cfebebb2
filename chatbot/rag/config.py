"""The answer service's settings (CHATBOT_RAG and CHAT_MAX_QUESTION_CHARS), read per question."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from django.conf import settings


@dataclass(frozen=True, kw_only=True)
class RagConfig:
    max_question_chars: int = 4000
    history_turns: int = 3  # question/answer pairs used to condense a follow-up
    prompt_history_turns: int = 1  # pairs also shown to a generating model
    retrieval_k: int = 8
    max_sources: int = 6
    context_tokens: int = 2500  # budget for source text in the prompt
    answer_tokens: int = 512
    temperature: float = 0.1
    condense_with_llm: bool = True
    condense_max_tokens: int = 64
    condense_timeout: float = 10.0
    # Below this best kNN score ((1 + cosine) / 2) retrieval found nothing on topic: decline without
    # calling the model. Calibrated for MiniLM in chatbot/RAG.md (recalibrate for another embedder).
    min_relevance: float = 0.70
    extractive_sentences: int = 4
    # The extractive answerer's support threshold on this pipeline's context (chatbot/RAG.md); None: the
    # answerer's own CHATBOT_EXTRACTIVE["MIN_SCORE"].
    extractive_min_score: float | None = 0.20
    # The same when the answerer has an embedder (lexical and semantic support); None: the answerer's own
    # CHATBOT_EXTRACTIVE["SEMANTIC_MIN_SCORE"].
    extractive_semantic_min_score: float | None = 0.30
    stream_delay: float = 0.0  # seconds between streamed word groups of extractive / cached answers
    llm_alias: str = "default"
    search_alias: str = "default"

    @classmethod
    def from_settings(cls, **overrides: Any) -> RagConfig:
        raw = {k.lower(): v for k, v in dict(getattr(settings, "CHATBOT_RAG", {})).items()}
        known = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
        values["max_question_chars"] = int(
            getattr(settings, "CHAT_MAX_QUESTION_CHARS", values.get("max_question_chars", 4000))
        )
        values.update(overrides)
        return cls(**values)
