"""Resolve re-rankers from settings.KNOWLEDGE_RERANKERS (same shape as the search backends):

KNOWLEDGE_RERANKERS = {"default": {"BACKEND": "search.rerankers.none"}}
KNOWLEDGE_RERANKERS = {"default": {"BACKEND": "search.rerankers.http", "TOP_N": 20,
                                   "OPTIONS": {"URL": "http://tei:8080/rerank"}}}
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .base import BaseReranker, RerankError

__all__ = ["BaseReranker", "RerankError", "get_reranker"]

_instances: dict[tuple[str, str], BaseReranker] = {}


def get_reranker(alias: str = "default", **overrides: Any) -> BaseReranker:
    rerankers = getattr(settings, "KNOWLEDGE_RERANKERS", {"default": {"BACKEND": "search.rerankers.none"}})
    if alias not in rerankers:
        raise ImproperlyConfigured(
            f"Unknown re-ranker alias {alias!r}; KNOWLEDGE_RERANKERS has: {', '.join(sorted(rerankers))}."
        )
    params = {**rerankers[alias], **overrides}
    key = (alias, repr(sorted(params.items())))
    if key not in _instances:
        path = params.get("BACKEND")
        if not path:
            raise ImproperlyConfigured(f"KNOWLEDGE_RERANKERS[{alias!r}] has no BACKEND.")
        try:
            reranker_cls = import_module(path).Reranker
        except (ImportError, AttributeError) as e:
            raise ImproperlyConfigured(f"KNOWLEDGE_RERANKERS[{alias!r}]: cannot load {path!r} ({e}).") from e
        _instances[key] = reranker_cls(alias, params)
    return _instances[key]
