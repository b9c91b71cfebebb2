"""SQLite full text for the database backend: an FTS5 table of folded text, ranked by bm25()."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, transaction
from django.db.models import QuerySet

from search.analysis import ENGLISH_STOP_WORDS, fold
from search.backends.base import batched
from search.models import IndexedChunk

from .fulltext import Scored

# Title and headings weigh more than the body, as in the Elasticsearch backend (title^3, headings^2).
FTS5_WEIGHTS = (3.0, 2.0, 1.0)
# Holds the *folded* title/headings/body (search.analysis.fold: NFKC + casefold) of each row, written
# from Python in rows_written (SQLite cannot fold in a trigger without an application function, which
# every connection, the sqlite3 shell's too, would then need). rowid = search_indexedchunk.id; a
# trigger removes a row's terms when the row goes. Literal SQL: no value is ever interpolated.
FTS_TABLE = "search_indexedchunk_fts2"
# The first table (external content, unfolded, kept by triggers): dropped when the new one is made.
_OLD_FTS = [
    "DROP TRIGGER IF EXISTS search_indexedchunk_fts_ai",
    "DROP TRIGGER IF EXISTS search_indexedchunk_fts_ad",
    "DROP TRIGGER IF EXISTS search_indexedchunk_fts_au",
    "DROP TABLE IF EXISTS search_indexedchunk_fts",
]
FTS5_SCHEMA = [
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(title, headings, body, "
    "tokenize='porter unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER {FTS_TABLE}_ad AFTER DELETE ON search_indexedchunk BEGIN "  # noqa: S608 - constants
    f"DELETE FROM {FTS_TABLE} WHERE rowid = old.id; END",
]
# Rows folded and written per statement: 3 columns + rowid = 4 parameters each, well under SQLite's limit.
_FOLD_BATCH = 500


def _table_exists(cursor: Any) -> bool:
    cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [FTS_TABLE])
    return cursor.fetchone() is not None


def fts5_terms(terms: Sequence[str]) -> list[str]:
    """The terms FTS5 should match: without English stop and question words, as the Elasticsearch backend
    analyses its query (FTS5's porter tokenizer stems but keeps every word, so "Which monarchs of the
    United Kingdom were …" matched every passage with "the" or "of"). All of them if nothing else is left.
    PostgreSQL's `english` configuration drops its own stop words."""
    kept = [t for t in terms if t not in ENGLISH_STOP_WORDS]
    return kept or list(terms)


def fts5_match(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression: each term a quoted string (never an operator), any of them matching."""
    return " OR ".join(f'"{t}"' for t in terms)


class SqliteFullText:
    def __init__(self, using: str) -> None:
        self.using = using

    def prepare(self) -> None:
        """Create the FTS5 table and its trigger unless they exist (cheap to check each time), and fill
        it with the rows written before it existed (a new database, or one indexed unfolded)."""
        with connections[self.using].cursor() as cursor:
            if _table_exists(cursor):
                return
            with transaction.atomic(using=self.using):
                for statement in [*_OLD_FTS, *FTS5_SCHEMA]:
                    cursor.execute(statement)
                self._write(cursor, IndexedChunk.objects.using(self.using).all(), replace=False)

    def rows_written(self, target: str, chunk_ids: Sequence[str]) -> None:
        rows = IndexedChunk.objects.using(self.using).filter(index_name=target, chunk_id__in=chunk_ids)
        with connections[self.using].cursor() as cursor:
            if _table_exists(cursor):  # else prepare() will fold these rows with all the others
                self._write(cursor, rows, replace=True)

    def _write(self, cursor: Any, rows: QuerySet[IndexedChunk], *, replace: bool) -> None:
        """Folded copies of ``rows``' text; ``replace`` first removes what an earlier write left."""
        values = rows.order_by("pk").values_list("pk", "title", "headings", "body")
        for batch in batched(values.iterator(chunk_size=_FOLD_BATCH), _FOLD_BATCH):
            if replace:
                marks = ", ".join(["%s"] * len(batch))
                cursor.execute(f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({marks})", [r[0] for r in batch])  # noqa: S608 - constant table, placeholders
            cursor.executemany(
                f"INSERT INTO {FTS_TABLE}(rowid, title, headings, body) VALUES (%s, %s, %s, %s)",  # noqa: S608 - constant table
                [(pk, fold(title), fold(headings), fold(body)) for pk, title, headings, body in batch],
            )

    def rank(self, visible: QuerySet[IndexedChunk], terms: Sequence[str], k: int) -> list[Scored]:
        self.prepare()
        terms = fts5_terms(terms)
        # Compiled for this connection (sql_with_params() would compile for the default database).
        subquery, params = visible.values("pk").query.get_compiler(using=self.using).as_sql()
        weights = ", ".join(str(w) for w in FTS5_WEIGHTS)
        # MATERIALIZED: the MATCH runs once and the visibility subquery filters its hits. Left to itself,
        # SQLite drove the query from the visible rowids and ran the full-text match per row (~1 s at
        # 5,000 chunks instead of a few ms).
        sql = (
            f"WITH hits AS MATERIALIZED (SELECT rowid AS pk, bm25({FTS_TABLE}, {weights}) AS score "  # noqa: S608 - constants and a compiled ORM query
            f"FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s) "
            f"SELECT pk, score FROM hits WHERE pk IN ({subquery}) ORDER BY score LIMIT %s"
        )
        with connections[self.using].cursor() as cursor:
            cursor.execute(sql, [fts5_match(terms), *params, k])
            # bm25() is lower-is-better; negated so every backend's scores grow with relevance.
            return [(int(pk), -float(score)) for pk, score in cursor.fetchall()]
