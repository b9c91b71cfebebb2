"""Resolve LLM providers from settings.CHATBOT_LLM_BACKENDS, the way WAGTAILSEARCH_BACKENDS works.

    CHATBOT_LLM_BACKENDS = {"default": {"BACKEND": "chatbot.llm.extractive", ...}}

Each backend module ends with `LLMBackend = <class>`. Provider SDKs are imported inside the backends, and
their clients are created on first use, so importing this package is cheap and offline.
"""

from __future__ import annotations

from typing import Any

from datacollection.backends import BackendRegistry

from .base import (
    BaseLLM,
    ChatMessage,
    GenerationChunk,
    LLMBadRequest,
    LLMError,
    LLMUnavailable,
    Usage,
)

__all__ = [
    "BaseLLM",
    "ChatMessage",
    "GenerationChunk",
    "LLMBadRequest",
    "LLMError",
    "LLMUnavailable",
    "Usage",
    "get_llm",
    "llms_check",
]

_registry: BackendRegistry[BaseLLM] = BackendRegistry(
    "CHATBOT_LLM_BACKENDS", attribute="LLMBackend", base=BaseLLM
)


def llms_check() -> None:
    _registry.check()


def get_llm(alias: str = "default", **overrides: Any) -> BaseLLM:
    """The provider for `alias`; `overrides` replace settings keys (e.g. BASE_URL for a test server)."""
    return _registry.get(alias, **overrides)
