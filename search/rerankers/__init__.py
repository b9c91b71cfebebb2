"""Resolve re-rankers from settings.KNOWLEDGE_RERANKERS (same shape as the search backends):

KNOWLEDGE_RERANKERS = {"default": {"BACKEND": "search.rerankers.none"}}
KNOWLEDGE_RERANKERS = {"default": {"BACKEND": "search.rerankers.http", "TOP_N": 20,
                                   "OPTIONS": {"URL": "http://tei:8080/rerank"}}}
"""

from __future__ import annotations

from typing import Any

from datacollection.backends import BackendRegistry

from .base import BaseReranker, RerankError

__all__ = ["BaseReranker", "RerankError", "get_reranker", "rerankers_check"]

_registry: BackendRegistry[BaseReranker] = BackendRegistry(
    "KNOWLEDGE_RERANKERS",
    attribute="Reranker",
    base=BaseReranker,
    default={"default": {"BACKEND": "search.rerankers.none"}},
)


def rerankers_check() -> None:
    _registry.check()


def get_reranker(alias: str = "default", **overrides: Any) -> BaseReranker:
    return _registry.get(alias, **overrides)
