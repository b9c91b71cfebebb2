"""Resolve embedders from settings.KNOWLEDGE_EMBEDDERS, the way search backends are resolved.

    KNOWLEDGE_EMBEDDERS = {"default": {"BACKEND": "search.embedders.minilm", "CACHE": "auto", "OPTIONS": {}}}

Each backend module ends with `Embedder = ...`. CACHE: "auto" (Redis through Django's cache when
REDIS_URL is set, else an in-process LRU), "django" (a Django cache alias: CACHE_ALIAS), "memory" or
"none".
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from datacollection.backends import BackendRegistry

from .base import BaseEmbedder, Vectors
from .cache import DEFAULT_LRU_SIZE, CachedEmbedder, DjangoCacheStore, LRUStore, VectorStore

__all__ = ["BaseEmbedder", "Vectors", "embedders_check", "get_embedder"]


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


def _cached(alias: str, params: dict[str, Any], embedder: BaseEmbedder) -> BaseEmbedder:
    store = _store(alias, params)
    return CachedEmbedder(embedder, store) if store is not None else embedder


_registry: BackendRegistry[BaseEmbedder] = BackendRegistry(
    "KNOWLEDGE_EMBEDDERS",
    attribute="Embedder",
    base=BaseEmbedder,
    wrap=_cached,
    wrap_keys={"CACHE", "CACHE_SIZE", "CACHE_ALIAS"},
)


def embedders_check() -> None:
    _registry.check()


def get_embedder(alias: str = "default", **overrides: Any) -> BaseEmbedder:
    """The embedder for `alias` (created once per configuration; the model loads on first use)."""
    return _registry.get(alias, **overrides)
