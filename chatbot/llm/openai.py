"""Any OpenAI-compatible chat endpoint: OpenAI, vLLM, Ollama, LM Studio, llama.cpp's server.

{"BACKEND": "chatbot.llm.openai", "MODEL": "gpt-4o-mini", "BASE_URL": "", "API_KEY": "...",
 "TIMEOUT": 60, "MAX_RETRIES": 2, "OPTIONS": {"STREAM_USAGE": True, "EXTRA_BODY": {}}}
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import openai
from django.core.exceptions import ImproperlyConfigured

from .base import (
    BaseLLM,
    ChatMessage,
    GenerationChunk,
    LLMBadRequest,
    LLMError,
    LLMUnavailable,
    Usage,
    validate_messages,
)

# Local servers (llama.cpp, Ollama, vLLM) accept any key, but the SDK refuses to start without one.
_PLACEHOLDER_KEY = "unused"
# A refused or unroutable connection should surface within seconds, whatever the overall read timeout.
_MAX_CONNECT_TIMEOUT = 5.0
_TRANSIENT_STATUSES = {408, 409, 429}


def map_openai_error(error: openai.OpenAIError, *, alias: str) -> LLMError:
    """The domain error for an SDK error: transient ones become LLMUnavailable."""
    extra: dict[str, Any] = {"alias": alias}
    if isinstance(error, openai.APITimeoutError):
        return LLMUnavailable(f"The language model timed out ({alias}).", code="llm_timeout", extra=extra)
    if isinstance(error, openai.APIConnectionError):
        return LLMUnavailable(f"The language model cannot be reached ({alias}).", extra=extra)
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        extra["status"] = status
        if status in _TRANSIENT_STATUSES or status >= 500:
            code = "llm_rate_limited" if status == 429 else "llm_unavailable"
            return LLMUnavailable(
                f"The language model answered HTTP {status} ({alias}).", code=code, extra=extra
            )
        if status in (401, 403):
            return LLMBadRequest(
                f"The language model refused our credentials ({alias}): check OPENAI_API_KEY.",
                code="llm_unauthorized",
                extra=extra,
            )
        return LLMBadRequest(
            f"The language model rejected the request ({alias}, HTTP {status}): {error.message}", extra=extra
        )
    return LLMError(f"The language model failed ({alias}): {error}", extra=extra)


class OpenAICompatibleLLM(BaseLLM):
    option_keys = frozenset({"STREAM_USAGE", "EXTRA_BODY"})

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.model_name = str(params.get("MODEL") or "")
        if not self.model_name:
            raise ImproperlyConfigured(
                f"CHATBOT_LLM_BACKENDS[{alias!r}]: the OpenAI-compatible backend needs MODEL (env LLM_MODEL)."
            )
        self.base_url: str | None = params.get("BASE_URL") or None
        self.api_key: str = params.get("API_KEY") or _PLACEHOLDER_KEY
        self.timeout = float(params.get("TIMEOUT", 60.0))
        self.max_retries = int(params.get("MAX_RETRIES", 2))
        self.stream_usage = bool(self.options.get("STREAM_USAGE", True))
        self.extra_body: dict[str, Any] = dict(self.options.get("EXTRA_BODY", {}))
        # One client per event loop: its connection pool belongs to the loop that opened it, and Django's
        # async_to_sync, uvicorn and tests each run their own loops.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI] = (
            weakref.WeakKeyDictionary()
        )

    def client(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self.api_key,
                timeout=openai.Timeout(self.timeout, connect=min(self.timeout, _MAX_CONNECT_TIMEOUT)),
                max_retries=self.max_retries,
            )
            self._clients[loop] = client
        return client

    def _request(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float, stop: Sequence[str]
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model_name,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        if self.stream_usage:
            # Servers that ignore it simply send no usage chunk.
            request["stream_options"] = {"include_usage": True}
        if stop:
            request["stop"] = list(stop)
        if self.extra_body:
            request["extra_body"] = self.extra_body
        return request

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
    ) -> AsyncGenerator[GenerationChunk, None]:
        validate_messages(messages)
        request = self._request(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        try:
            response = await self.client().chat.completions.create(**request)
        except openai.OpenAIError as e:
            raise map_openai_error(e, alias=self.alias) from e
        finish_reason: str | None = None
        usage: Usage | None = None
        try:
            async for event in response:
                if event.usage is not None:
                    usage = Usage(
                        prompt_tokens=event.usage.prompt_tokens,
                        completion_tokens=event.usage.completion_tokens,
                    )
                if not event.choices:
                    continue
                choice = event.choices[0]
                if choice.finish_reason:
                    finish_reason = choice.finish_reason
                if choice.delta and choice.delta.content:
                    yield GenerationChunk(text=choice.delta.content)
        except openai.OpenAIError as e:
            raise map_openai_error(e, alias=self.alias) from e
        finally:
            # Runs on normal end, on errors, on aclose() when the consumer stops early, and on task
            # cancellation: closing the HTTP response tells the server to stop generating.
            await response.close()
        if finish_reason is None:
            # Every complete stream ends with a finish_reason. llama.cpp's server, for one, answers a
            # streamed request it cannot serve (a prompt over its context) with 200 and an empty body.
            raise LLMError(
                f"The language model's stream ended without finishing ({self.alias}).",
                code="llm_stream_incomplete",
                extra={"alias": self.alias},
            )
        yield GenerationChunk(text="", finish_reason=finish_reason, usage=usage)


LLMBackend = OpenAICompatibleLLM
