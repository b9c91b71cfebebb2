"""Resolve knowledge search backends from settings.KNOWLEDGE_SEARCH_BACKENDS, as WAGTAILSEARCH_BACKENDS."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .base import BaseSearchBackend, IndexItem, ScoredChunk

__all__ = ["BaseSearchBackend", "IndexItem", "ScoredChunk", "get_search_backend"]

# One instance per alias and configuration: clients inside are created lazily and reused. Keyed by the
# configuration too, so a changed setting (override_settings in tests) gets a fresh backend.
_instances: dict[tuple[str, str], BaseSearchBackend] = {}


def _load(alias: str, params: dict[str, Any]) -> BaseSearchBackend:
    path = params.get("BACKEND")
    if not path:
        raise ImproperlyConfigured(f"KNOWLEDGE_SEARCH_BACKENDS[{alias!r}] has no BACKEND.")
    try:
        backend_cls = import_module(path).SearchBackend
    except (ImportError, AttributeError) as e:
        raise ImproperlyConfigured(
            f"KNOWLEDGE_SEARCH_BACKENDS[{alias!r}]: cannot load {path!r} ({e})."
        ) from e
    return backend_cls(alias, params)


def get_search_backend(alias: str = "default", **overrides: Any) -> BaseSearchBackend:
    """The backend for `alias`; `overrides` replace settings keys (e.g. INDEX for a throwaway index)."""
    backends = settings.KNOWLEDGE_SEARCH_BACKENDS
    if alias not in backends:
        raise ImproperlyConfigured(
            f"Unknown knowledge search backend alias {alias!r}; configured: {', '.join(sorted(backends))}."
        )
    params = {**backends[alias], **overrides}
    key = (alias, repr(sorted(params.items())))
    if key not in _instances:
        _instances[key] = _load(alias, params)
    return _instances[key]
