"""The answer service's settings (CHATBOT_RAG and CHAT_MAX_QUESTION_CHARS), read per question, and a chat
session's own settings on top of them (`RagConfig.for_session`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from django.conf import settings

from datacollection.conf import settings_dict

# A session's `answer_length` → caps on (model answer tokens, extractive sentences). "long" is the
# configured budget itself (CHATBOT_RAG ANSWER_TOKENS / EXTRACTIVE_SENTENCES); a cap never raises it.
ANSWER_LENGTHS: dict[str, tuple[int, int] | None] = {"short": (128, 1), "medium": (256, 2), "long": None}


def session_model_aliases() -> list[str]:
    """The LLM aliases a session may choose with its `model` setting: CHATBOT_SESSION_MODELS if set, else
    every configured CHATBOT_LLM_BACKENDS alias (only those that are configured either way)."""
    configured = list(getattr(settings, "CHATBOT_LLM_BACKENDS", {}))
    allowed = getattr(settings, "CHATBOT_SESSION_MODELS", None)
    return configured if allowed is None else [alias for alias in allowed if alias in configured]


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
    # Answers of one server process retrieving or quoting at once (pipeline.work_gate); more wait.
    concurrent_work: int = 4
    llm_alias: str = "default"
    search_alias: str = "default"

    @classmethod
    def from_settings(cls, **overrides: Any) -> RagConfig:
        known = {f.name.upper() for f in fields(cls)}
        raw = settings_dict("CHATBOT_RAG", known=known)
        values: dict[str, Any] = {k.lower(): v for k, v in raw.items()}
        values["max_question_chars"] = int(
            getattr(settings, "CHAT_MAX_QUESTION_CHARS", values.get("max_question_chars", 4000))
        )
        values.update(overrides)
        return cls(**values)

    @classmethod
    def for_session(cls, session_settings: Mapping[str, Any] | None) -> RagConfig:
        """The configuration for a question of a session with these settings (ChatSession.settings):
        `answer_length` caps the answer, `model` picks the LLM alias if it is (still) allowed. Anything
        else (an older or no longer allowed value) is ignored: the site's own configuration applies."""
        config = cls.from_settings()
        chosen = dict(session_settings or {})
        changes: dict[str, Any] = {}
        caps = ANSWER_LENGTHS.get(str(chosen.get("answer_length")))
        if caps is not None:
            changes["answer_tokens"] = min(config.answer_tokens, caps[0])
            changes["extractive_sentences"] = min(config.extractive_sentences, caps[1])
        model = chosen.get("model")
        if isinstance(model, str) and model in session_model_aliases():
            changes["llm_alias"] = model
        return replace(config, **changes)
