"""Resolve LLM providers from settings.CHATBOT_LLM_BACKENDS, the way WAGTAILSEARCH_BACKENDS works.

    CHATBOT_LLM_BACKENDS = {"default": {"BACKEND": "chatbot.llm.extractive", ...}}

Each backend module ends with `LLMBackend = <class>`. Provider SDKs are imported inside the backends, and
their clients are created on first use, so importing this package is cheap and offline.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

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
]

# One instance per alias and configuration (clients inside are lazy and reused). Keyed by the configuration
# too, so a changed setting (override_settings in tests) gets a fresh provider.
_instances: dict[tuple[str, str], BaseLLM] = {}


def _load(alias: str, params: dict[str, Any]) -> BaseLLM:
    path = params.get("BACKEND")
    if not path:
        raise ImproperlyConfigured(f"CHATBOT_LLM_BACKENDS[{alias!r}] has no BACKEND.")
    try:
        backend_cls = import_module(path).LLMBackend
    except (ImportError, AttributeError) as e:
        raise ImproperlyConfigured(f"CHATBOT_LLM_BACKENDS[{alias!r}]: cannot load {path!r} ({e}).") from e
    if not (isinstance(backend_cls, type) and issubclass(backend_cls, BaseLLM)):
        raise ImproperlyConfigured(f"CHATBOT_LLM_BACKENDS[{alias!r}]: {path}.LLMBackend is not a BaseLLM.")
    return backend_cls(alias, params)


def get_llm(alias: str = "default", **overrides: Any) -> BaseLLM:
    """The provider for `alias`; `overrides` replace settings keys (e.g. BASE_URL for a test server)."""
    backends: dict[str, dict[str, Any]] = getattr(settings, "CHATBOT_LLM_BACKENDS", {})
    if alias not in backends:
        raise ImproperlyConfigured(
            f"Unknown LLM backend alias {alias!r}; configured in CHATBOT_LLM_BACKENDS: "
            f"{', '.join(sorted(backends)) or 'none'}."
        )
    params = {**backends[alias], **overrides}
    key = (alias, repr(sorted(params.items())))
    if key not in _instances:
        _instances[key] = _load(alias, params)
    return _instances[key]
