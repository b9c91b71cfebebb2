"""Resolve embedders from settings.KNOWLEDGE_EMBEDDERS, the way search backends are resolved.

    KNOWLEDGE_EMBEDDERS = {"default": {"BACKEND": "search.embedders.minilm", "CACHE": "auto", "OPTIONS": {}}}

Each backend module ends with `Embedder = ...`. CACHE: "auto" (Redis through Django's cache when
REDIS_URL is set, else an in-process LRU), "django" (a Django cache alias: CACHE_ALIAS), "memory" or
"none".
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .base import BaseEmbedder, Vectors
from .cache import DEFAULT_LRU_SIZE, CachedEmbedder, DjangoCacheStore, LRUStore, VectorStore

__all__ = ["BaseEmbedder", "Vectors", "get_embedder"]

_instances: dict[tuple[str, str], BaseEmbedder] = {}


def _store(alias: str, params: dict[str, Any]) -> VectorStore | None:
    mode = params.get("CACHE", "auto")
    if mode == "auto":
        mode = "django" if getattr(settings, "REDIS_URL", "") else "memory"
    if mode == "none":
        return None
    if mode == "memory":
        return LRUStore(int(params.get("CACHE_SIZE", DEFAULT_LRU_SIZE)))
    if mode == "django":
        return DjangoCacheStore(params.get("CACHE_ALIAS", "default"))
    raise ImproperlyConfigured(
        f"KNOWLEDGE_EMBEDDERS[{alias!r}]: CACHE must be auto, django, memory or none, not {mode!r}."
    )


def _load(alias: str, params: dict[str, Any]) -> BaseEmbedder:
    path = params.get("BACKEND")
    if not path:
        raise ImproperlyConfigured(f"KNOWLEDGE_EMBEDDERS[{alias!r}] has no BACKEND.")
    try:
        embedder_cls = import_module(path).Embedder
    except (ImportError, AttributeError) as e:
        raise ImproperlyConfigured(f"KNOWLEDGE_EMBEDDERS[{alias!r}]: cannot load {path!r} ({e}).") from e
    embedder: BaseEmbedder = embedder_cls(alias, params)
    store = _store(alias, params)
    return CachedEmbedder(embedder, store) if store is not None else embedder


def get_embedder(alias: str = "default", **overrides: Any) -> BaseEmbedder:
    """The embedder for `alias` (created once per configuration; the model loads on first use)."""
    embedders = getattr(settings, "KNOWLEDGE_EMBEDDERS", {})
    if alias not in embedders:
        raise ImproperlyConfigured(
            f"Unknown embedder alias {alias!r}; KNOWLEDGE_EMBEDDERS has: {', '.join(sorted(embedders))}."
        )
    params = {**embedders[alias], **overrides}
    key = (alias, repr(sorted(params.items())))
    if key not in _instances:
        _instances[key] = _load(alias, params)
    return _instances[key]
