"""No re-ranking: the fused order stands (the measured default, see search/RETRIEVAL.md)."""

from __future__ import annotations

from collections.abc import Sequence

from .base import BaseReranker


class NoReranker(BaseReranker):
    @property
    def enabled(self) -> bool:
        return False

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        return [0.0] * len(documents)


Reranker = NoReranker
