"""The contract of LLM providers (OpenAI-compatible HTTP, in-process llama.cpp, extractive).

Providers stream: `stream()` is an async generator, because it runs under ASGI inside the SSE view and a
sync iterator would block the event loop (and make Django buffer the response).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from search.errors import KnowledgeError

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True, kw_only=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True, kw_only=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, kw_only=True)
class GenerationChunk:
    """A piece of generated text; a stream's last chunk carries `finish_reason` (and `usage` if known)."""

    text: str
    finish_reason: str | None = None  # "stop" | "length" | provider-specific
    usage: Usage | None = None


class LLMError(KnowledgeError):
    default_code = "llm_error"


class LLMUnavailable(LLMError):
    """The provider cannot answer now (connection refused, timeout, 5xx, 429): transient, worth retrying."""

    default_code = "llm_unavailable"


class LLMBadRequest(LLMError):
    """The provider refused the request (bad parameters, context too long, authentication): not transient."""

    default_code = "llm_bad_request"


def approximate_token_count(text: str) -> int:
    # ~4 characters per token is the usual figure for English BPE vocabularies; good enough for budgeting
    # a prompt when the provider exposes no tokenizer.
    return math.ceil(len(text) / 4) if text else 0


class BaseLLM(ABC):
    """One configured provider. Subclasses create their clients lazily, never at import time."""

    model_name: str = ""
    # False for providers that cannot write text (the extractive default): the chat service then composes
    # an answer from retrieved sentences instead of calling `stream()`.
    supports_generation: bool = True
    # The keys of a CHATBOT_LLM_BACKENDS entry: the settings give every provider the same ones, so each
    # reads its own and ignores the others'; any other key is refused (datacollection.backends).
    settings_keys: frozenset[str] = frozenset(
        {"MODEL", "CONTEXT_TOKENS", "BASE_URL", "API_KEY", "TIMEOUT", "MAX_RETRIES", "MODEL_PATH", "THREADS"}
    )
    option_keys: frozenset[str] | None = None

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        self.alias = alias
        self.params = params
        self.options: dict[str, Any] = dict(params.get("OPTIONS", {}))
        # The prompt + answer budget the chat service may use with this model.
        self.context_tokens: int = int(params.get("CONTEXT_TOKENS", 4096))

    @abstractmethod
    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
    ) -> AsyncGenerator[GenerationChunk, None]:
        """Yield chunks as the model produces them; the last one has `finish_reason` set.

        Implementations are async generators. A consumer that stops early should close the generator
        (`contextlib.aclosing`), and cancelling the consuming task stops generation promptly.
        Raises LLMUnavailable or LLMBadRequest.
        """

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> str:
        """The whole answer as one string (e.g. to condense a follow-up question with its history)."""
        parts: list[str] = []
        async with aclosing(
            self.stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        ) as chunks:
            async for chunk in chunks:
                parts.append(chunk.text)
        return "".join(parts).strip()

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this model's context; approximate unless the provider has a tokenizer."""
        return approximate_token_count(text)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} alias={self.alias!r} model={self.model_name!r}>"


def validate_messages(messages: Sequence[ChatMessage]) -> None:
    if not messages:
        raise LLMBadRequest("No messages to send to the model.", code="llm_empty_prompt")
    for message in messages:
        if message.role not in ROLES:
            raise LLMBadRequest(f"Unknown chat role {message.role!r}.", code="llm_bad_role")
