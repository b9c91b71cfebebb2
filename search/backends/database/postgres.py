"""PostgreSQL full text for the database backend: a stored, GIN-indexed tsvector (title A, headings B,
body C) ranked with ts_rank."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db.models import F, QuerySet

from search.models import IndexedChunk

from .fulltext import Scored


class PostgresFullText:
    def __init__(self, using: str, *, config: str) -> None:
        self.using = using
        self.config = config

    def prepare(self) -> None:
        """Nothing to do: the tsvector column and its index are migrations."""

    def rows_written(self, target: str, chunk_ids: Sequence[str]) -> None:
        cfg = self.config
        document = (
            SearchVector("title", weight="A", config=cfg)
            + SearchVector("headings", weight="B", config=cfg)
            + SearchVector("body", weight="C", config=cfg)
        )
        rows = IndexedChunk.objects.using(self.using).filter(index_name=target, chunk_id__in=chunk_ids)
        rows.update(search_vector=document)

    def rank(self, visible: QuerySet[IndexedChunk], terms: Sequence[str], k: int) -> list[Scored]:
        # Terms are OR-ed (websearch_to_tsquery would AND them, and a question rarely has all its words
        # in one passage); to_tsquery stems them and drops stop words with the same configuration.
        tsquery = SearchQuery(" | ".join(terms), search_type="raw", config=self.config)
        # normalization 1: divide by 1 + log(length), so long passages do not win by length alone.
        rank = SearchRank(F("search_vector"), tsquery, normalization=1)
        rows = visible.filter(search_vector=tsquery).annotate(rank=rank).order_by("-rank", "pk")
        return [(pk, float(score)) for pk, score in rows.values_list("pk", "rank")[:k]]
