"""The full-text half of the database backend, one implementation per database vendor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from django.db.models import QuerySet

from search.analysis import words
from search.models import IndexedChunk

# Only the first terms of a very long query count (a pasted page must not become a 5,000-term OR).
MAX_QUERY_TERMS = 64
MAX_QUERY_CHARS = 2000

Scored = tuple[int, float]  # (row pk, score)


def query_terms(query: str) -> list[str]:
    """The query's distinct word tokens, folded (``search.analysis.fold``: "№5" is "no5", "２" is "2"),
    at most MAX_QUERY_TERMS: safe in any FTS syntax."""
    terms = dict.fromkeys(words(query[:MAX_QUERY_CHARS]))
    return list(terms)[:MAX_QUERY_TERMS]


class FullText(Protocol):
    def prepare(self) -> None:
        """Make the full-text structures exist before a write or a search."""

    def rows_written(self, target: str, chunk_ids: Sequence[str]) -> None:
        """Bring the full-text index up to date with rows just written."""

    def rank(self, visible: QuerySet[IndexedChunk], terms: Sequence[str], k: int) -> list[Scored]:
        """The best `k` of the visible rows matching any of `terms`, best first, scores growing."""
