"""What only the database backend has: the pointer row, the per-process vector cache, PostgreSQL's
tsvector and SQLite's FTS5 table. The shared behaviour is in test_backend_contract.py (which also runs the
whole contract on SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from django.db import connection, connections

from search.backends import get_search_backend
from search.backends.database import DatabaseSearchBackend, fts5_match, fts5_terms, query_terms
from search.errors import InvalidQuery
from search.models import IndexAlias, IndexedChunk
from tests.factories import ANONYMOUS, make_chunk, make_item, throwaway_index_name
from tests.search.backends.test_contract import sqlite_database  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def backend() -> Iterator[DatabaseSearchBackend]:
    backend = DatabaseSearchBackend("test", {"INDEX": throwaway_index_name(), "OPTIONS": {}})
    yield backend
    backend.drop()


def corpus(backend: DatabaseSearchBackend) -> None:
    backend.index_chunks(
        [
            make_item(make_chunk(1, 0, text="Aardvarks dig burrows."), [1, 0, 0, 0]),
            make_item(make_chunk(1, 1, text="Editors publish pages."), [0, 1, 0, 0]),
        ],
        dimensions=4,
    )


def test_selected_by_settings_and_healthy(settings: Any) -> None:
    index = throwaway_index_name()
    settings.KNOWLEDGE_SEARCH_BACKENDS = {"default": {"BACKEND": "search.backends.database", "INDEX": index}}
    backend = get_search_backend()
    assert isinstance(backend, DatabaseSearchBackend)
    assert backend.health() == "database (postgresql)"


def test_query_terms_are_bounded_words() -> None:
    assert query_terms('"Foo" AND (bar OR   foo*') == ["foo", "and", "bar", "or"]
    assert query_terms("!!! ???") == []
    assert len(query_terms(" ".join(f"w{i}" for i in range(5000)))) == 64
    assert fts5_match(["near", "not"]) == '"near" OR "not"'


def test_postgres_stores_a_weighted_tsvector_with_a_gin_index(backend: DatabaseSearchBackend) -> None:
    corpus(backend)
    row = IndexedChunk.objects.get(chunk_id="page:1:0", index_name__startswith=f"{backend.index_name}@")
    assert "'aardvark':" in str(row.search_vector)  # English stemming
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'search_chunk_fts_gin'")
        (definition,) = cursor.fetchone()
    assert "gin (search_vector)" in definition


def test_stemming_matches_other_word_forms(backend: DatabaseSearchBackend) -> None:
    corpus(backend)
    assert [h.chunk.chunk_id for h in backend.search_text("aardvark digging", principal=ANONYMOUS, k=3)] == [
        "page:1:0"
    ]


def test_vector_cache_follows_writes_of_other_processes(backend: DatabaseSearchBackend) -> None:
    corpus(backend)
    first = backend.search_vector([0, 1, 0, 0], principal=ANONYMOUS, k=1)
    assert first[0].chunk.chunk_id == "page:1:1"
    # Another process rewrites a vector: the rows and the version move, this process's cache does not know.
    pointer = IndexAlias.objects.get(name=backend.index_name)
    IndexedChunk.objects.filter(index_name=pointer.target, chunk_id="page:1:0").update(
        vector=np.asarray([0, 1, 0, 0], dtype="<f4").tobytes()
    )
    IndexedChunk.objects.filter(index_name=pointer.target, chunk_id="page:1:1").update(
        vector=np.asarray([1, 0, 0, 0], dtype="<f4").tobytes()
    )
    IndexAlias.objects.filter(pk=pointer.pk).update(version=pointer.version + 1)
    assert backend.search_vector([0, 1, 0, 0], principal=ANONYMOUS, k=1)[0].chunk.chunk_id == "page:1:0"


def test_zero_query_vector_is_invalid(backend: DatabaseSearchBackend) -> None:
    corpus(backend)
    with pytest.raises(InvalidQuery):
        backend.search_vector([0, 0, 0, 0], principal=ANONYMOUS, k=1)


def test_rebuild_removes_rows_a_crashed_rebuild_left_behind(backend: DatabaseSearchBackend) -> None:
    corpus(backend)
    orphan = make_item(make_chunk(9, 0), [1, 0, 0, 0])
    backend._write_batch(f"{backend.index_name}@19990101000000-dead00", [orphan], dimensions=4)
    other_index = DatabaseSearchBackend("test", {"INDEX": f"{backend.index_name}-other", "OPTIONS": {}})
    other_index.index_chunks([orphan], dimensions=4)
    try:
        backend.rebuild([make_item(make_chunk(2, 0), [0, 0, 1, 0])], dimensions=4)
        names = set(IndexedChunk.objects.values_list("index_name", flat=True))
        mine = {n for n in names if n.startswith(f"{backend.index_name}@")}
        assert mine == {IndexAlias.objects.get(name=backend.index_name).target}
        assert other_index.count() == 1  # a name sharing the prefix is another index: untouched
    finally:
        other_index.drop()


def test_sqlite_matches_without_stop_words_unless_nothing_else_is_left(sqlite_database: str) -> None:  # noqa: F811
    assert fts5_terms(query_terms("Which monarchs of the United Kingdom were married?")) == [
        "monarchs",
        "united",
        "kingdom",
        "married",
    ]
    assert fts5_terms(["the", "who"]) == ["the", "who"]
    backend = DatabaseSearchBackend("test", {"INDEX": "stops", "DATABASE": sqlite_database, "OPTIONS": {}})
    texts = ["The history of the kingdom and of the crown.", "Monarchs who married abroad."]
    backend.index_chunks(
        [
            make_item(make_chunk(i, 0, text=t, title=f"T{i}", heading_path=()), [1, 0, 0, 0])
            for i, t in enumerate(texts)
        ],
        dimensions=4,
    )
    try:
        # "of the ... the" no longer lifts the passage that only shares stop words and "kingdom".
        hits = backend.search_text("Which monarchs of the kingdom married?", principal=ANONYMOUS, k=2)
        assert hits[0].chunk.chunk_id == "page:1:0"
        # A query of stop words only still finds the passages that contain them.
        assert backend.search_text("of the", principal=ANONYMOUS, k=2)
    finally:
        backend.drop()


def test_sqlite_indexes_rows_written_before_its_fts_table_existed(sqlite_database: str) -> None:  # noqa: F811
    backend = DatabaseSearchBackend("test", {"INDEX": "early", "DATABASE": sqlite_database, "OPTIONS": {}})
    IndexAlias.objects.using(sqlite_database).create(name="early", target="early@1", dimensions=4)
    backend._write_batch(
        "early@1", [make_item(make_chunk(1, 0, text="Okapis hide."), [1, 0, 0, 0])], dimensions=4
    )
    with connections[sqlite_database].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sqlite_master WHERE name = 'search_indexedchunk_fts2'")
        assert cursor.fetchone() == (0,)
    assert [h.chunk.chunk_id for h in backend.search_text("okapi", principal=ANONYMOUS, k=3)] == ["page:1:0"]
    assert backend.health() == "database (sqlite)"
