"""Resolve knowledge search backends from settings.KNOWLEDGE_SEARCH_BACKENDS, as WAGTAILSEARCH_BACKENDS.
Each backend module ends with `SearchBackend = <class>`."""

from __future__ import annotations

from typing import Any

from datacollection.backends import BackendRegistry

from .base import BaseSearchBackend, IndexItem, ScoredChunk

__all__ = ["BaseSearchBackend", "IndexItem", "ScoredChunk", "get_search_backend", "search_backends_check"]

_registry: BackendRegistry[BaseSearchBackend] = BackendRegistry(
    "KNOWLEDGE_SEARCH_BACKENDS", attribute="SearchBackend", base=BaseSearchBackend
)


def search_backends_check() -> None:
    _registry.check()


def get_search_backend(alias: str = "default", **overrides: Any) -> BaseSearchBackend:
    """The backend for `alias`; `overrides` replace settings keys (e.g. INDEX for a throwaway index)."""
    return _registry.get(alias, **overrides)
