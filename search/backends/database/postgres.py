"""PostgreSQL full text for the database backend: a stored, GIN-indexed tsvector (title A, headings B,
body C) ranked with ts_rank."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connections
from django.db.models import F, QuerySet

from search.analysis import fold
from search.models import IndexedChunk

from .fulltext import Scored

# The tsvector of folded text (search.analysis.fold: NFKC + casefold), so "No5" finds "№5" and "2" finds
# "２"; the columns keep the source's characters. One statement per written batch (≤ 500 rows).
_VECTOR_UPDATE = (
    "UPDATE search_indexedchunk AS c SET search_vector = "
    "setweight(to_tsvector(%s::regconfig, v.title), 'A') || "
    "setweight(to_tsvector(%s::regconfig, v.headings), 'B') || "
    "setweight(to_tsvector(%s::regconfig, v.body), 'C') "
    "FROM (VALUES {rows}) AS v(id, title, headings, body) WHERE c.id = v.id"
)


class PostgresFullText:
    def __init__(self, using: str, *, config: str) -> None:
        self.using = using
        self.config = config

    def prepare(self) -> None:
        """Nothing to do: the tsvector column and its index are migrations."""

    def rows_written(self, target: str, chunk_ids: Sequence[str]) -> None:
        rows = list(
            IndexedChunk.objects.using(self.using)
            .filter(index_name=target, chunk_id__in=chunk_ids)
            .values_list("pk", "title", "headings", "body")
        )
        if not rows:
            return
        params: list[int | str] = [self.config] * 3
        for pk, title, headings, body in rows:
            params.extend([pk, fold(title), fold(headings), fold(body)])
        placeholders = ", ".join(["(%s::bigint, %s, %s, %s)"] * len(rows))
        with connections[self.using].cursor() as cursor:
            cursor.execute(_VECTOR_UPDATE.format(rows=placeholders), params)

    def rank(self, visible: QuerySet[IndexedChunk], terms: Sequence[str], k: int) -> list[Scored]:
        # Terms (already folded, fulltext.query_terms) are OR-ed (websearch_to_tsquery would AND them,
        # and a question rarely has all its words in one passage); to_tsquery stems them and drops stop
        # words with the same configuration.
        tsquery = SearchQuery(" | ".join(terms), search_type="raw", config=self.config)
        # normalization 1: divide by 1 + log(length), so long passages do not win by length alone.
        rank = SearchRank(F("search_vector"), tsquery, normalization=1)
        rows = visible.filter(search_vector=tsquery).annotate(rank=rank).order_by("-rank", "pk")
        return [(pk, float(score)) for pk, score in rows.values_list("pk", "rank")[:k]]
