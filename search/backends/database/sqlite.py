"""SQLite full text for the database backend: an FTS5 table kept in sync by triggers, ranked by bm25()."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, transaction
from django.db.models import QuerySet

from search.analysis import ENGLISH_STOP_WORDS
from search.models import IndexedChunk

from .fulltext import Scored

# Title and headings weigh more than the body, as in the Elasticsearch backend (title^3, headings^2).
FTS5_WEIGHTS = (3.0, 2.0, 1.0)
FTS_TABLE = "search_indexedchunk_fts"

# The FTS5 table indexes title/headings/body of search_indexedchunk (external content); the triggers are
# SQLite's documented recipe for keeping such a table in sync with its content table. Literal SQL: no
# value is ever interpolated.
FTS5_SCHEMA = [
    "CREATE VIRTUAL TABLE search_indexedchunk_fts USING fts5(title, headings, body, "
    "content='search_indexedchunk', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER search_indexedchunk_fts_ai AFTER INSERT ON search_indexedchunk BEGIN "
    "INSERT INTO search_indexedchunk_fts(rowid, title, headings, body) "
    "VALUES (new.id, new.title, new.headings, new.body); END",
    "CREATE TRIGGER search_indexedchunk_fts_ad AFTER DELETE ON search_indexedchunk BEGIN "
    "INSERT INTO search_indexedchunk_fts(search_indexedchunk_fts, rowid, title, headings, body) "
    "VALUES ('delete', old.id, old.title, old.headings, old.body); END",
    "CREATE TRIGGER search_indexedchunk_fts_au AFTER UPDATE OF title, headings, body ON search_indexedchunk "
    "BEGIN INSERT INTO search_indexedchunk_fts(search_indexedchunk_fts, rowid, title, headings, body) "
    "VALUES ('delete', old.id, old.title, old.headings, old.body); "
    "INSERT INTO search_indexedchunk_fts(rowid, title, headings, body) "
    "VALUES (new.id, new.title, new.headings, new.body); END",
    # Rows written before the table existed.
    "INSERT INTO search_indexedchunk_fts(search_indexedchunk_fts) VALUES ('rebuild')",
]


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
        """Create the FTS5 table and its triggers unless they exist (cheap to check each time)."""
        with connections[self.using].cursor() as cursor:
            cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [FTS_TABLE])
            if cursor.fetchone():
                return
            with transaction.atomic(using=self.using):
                for statement in FTS5_SCHEMA:
                    cursor.execute(statement)

    def rows_written(self, target: str, chunk_ids: Sequence[str]) -> None:
        """Nothing to do: the triggers keep the FTS5 table in step with the rows."""

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
