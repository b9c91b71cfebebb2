"""A follow-up question + the chat history → one standalone search query.

With a generating LLM the model rewrites the question (short prompt, few tokens); otherwise, or when the
model fails, a heuristic appends the salient words of the previous user question to a question that looks
like a follow-up. Retrieval is lexical and semantic, so extra topic words pull the right page up without
needing a grammatical rewrite.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence

from chatbot.llm import BaseLLM, LLMError
from chatbot.llm.sentences import STOPWORDS

from .prompts import condense_messages

logger = logging.getLogger(__name__)

_FOLLOW_UP_START = re.compile(
    r"^\s*(?:and|also|then|but|so|or|what about|how about|same|ok|okay|what if|in that case)\b", re.I
)
_REFERENCES = frozenset(
    "it its it's that this these those they them their there such same one ones former latter".split()
)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*[A-Za-z0-9]|[A-Za-z0-9]")
# Question words carry no topic; dropped from what is carried over. Only English grammar: no word of the
# knowledge or of an evaluation set (a product name here once made the heuristic fit one corpus).
_NOT_SALIENT = STOPWORDS | frozenset(
    "how what which who why when where does do can could would should use using used way ways "
    "i'd i've we're it's there's".split()
)
_SHORT_QUESTION_WORDS = 4
_MAX_CARRIED = 10
_MAX_REWRITE_CHARS = 500


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def looks_like_follow_up(question: str) -> bool:
    """Starts like a continuation, refers back with a pronoun, or is too short to stand alone."""
    if _FOLLOW_UP_START.match(question):
        return True
    words = [w.lower() for w in _words(question)]
    if any(w in _REFERENCES for w in words):
        return True
    return len([w for w in words if w not in _NOT_SALIENT]) <= _SHORT_QUESTION_WORDS - 1


def salient_words(text: str) -> list[str]:
    found: list[str] = []
    for word in _words(text):
        lower = word.lower()
        if lower in _NOT_SALIENT or len(lower) < 3 or lower in (w.lower() for w in found):
            continue
        found.append(word)
    return found


def previous_question(history: Sequence[Mapping[str, str]]) -> str:
    """The last question the user asked before this one ("" when none)."""
    for turn in reversed(history):
        if turn.get("role") == "user" and turn.get("content", "").strip():
            return str(turn["content"])
    return ""


def condense_heuristic(question: str, history: Sequence[Mapping[str, str]]) -> str:
    previous = previous_question(history)
    if not previous or not looks_like_follow_up(question):
        return question
    present = {w.lower() for w in _words(question)}
    carried = [w for w in salient_words(previous) if w.lower() not in present][:_MAX_CARRIED]
    return f"{question} {' '.join(carried)}".strip() if carried else question


def _clean_rewrite(text: str) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = re.sub(r"^(?:standalone question|question|query)\s*:\s*", "", line, flags=re.I)
    return line.strip().strip('"').strip("'").strip()


async def condense_with_llm(
    question: str, history: Sequence[Mapping[str, str]], *, llm: BaseLLM, max_tokens: int, timeout: float
) -> str:
    """The model's rewrite, or the heuristic's when the model fails, times out or answers nonsense."""
    try:
        rewrite = await asyncio.wait_for(
            llm.complete(condense_messages(question, history), max_tokens=max_tokens, temperature=0.0),
            timeout=timeout,
        )
    except (LLMError, TimeoutError) as e:
        logger.warning("condensing with %r failed, heuristic used: %s", llm, e)
        return condense_heuristic(question, history)
    cleaned = _clean_rewrite(rewrite)
    if not cleaned or len(cleaned) > _MAX_REWRITE_CHARS or not any(ch.isalnum() for ch in cleaned):
        return condense_heuristic(question, history)
    return cleaned


async def question_condense(
    question: str,
    history: Sequence[Mapping[str, str]],
    *,
    llm: BaseLLM | None,
    use_llm: bool = True,
    max_tokens: int = 64,
    timeout: float = 10.0,
) -> str:
    """The standalone query to retrieve with (the question itself when there is no history)."""
    if not history:
        return question
    if llm is not None and use_llm and llm.supports_generation:
        return await condense_with_llm(question, history, llm=llm, max_tokens=max_tokens, timeout=timeout)
    return condense_heuristic(question, history)
