"""The contract of re-rankers: score (query, passage) pairs; higher is more relevant."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any


class BaseReranker(ABC):
    #: How many fused candidates to re-score (the rest keep their fused order below them).
    top_n: int = 0
    # The keys of its KNOWLEDGE_RERANKERS entry and of OPTIONS it reads (datacollection.backends refuses
    # any other; None: OPTIONS unchecked).
    settings_keys: frozenset[str] = frozenset({"TOP_N"})
    option_keys: frozenset[str] | None = None

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        self.alias = alias
        self.params = params
        self.options: dict[str, Any] = dict(params.get("OPTIONS", {}))
        self.top_n = int(params.get("TOP_N") or self.options.get("TOP_N") or 20)

    @property
    def enabled(self) -> bool:
        return True

    @abstractmethod
    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        """One relevance score per document, in the order given. Raises RerankError on failure."""


class RerankError(Exception):
    """The re-ranker failed; retrieval falls back to the fused order (logged), never to no results."""
