"""/healthz's search component answers for every backend: the network engine within the timeout given, the
database backend (which takes no timeout) by its own connection."""

from __future__ import annotations

from typing import Any

import pytest

from search.backends import get_search_backend
from search.errors import IndexMismatch, SearchUnavailable
from search.health import search_engine_check, search_engine_health
from search.services import index_embedder
from tests.factories import make_chunk, make_item


@pytest.mark.django_db
def test_the_database_backend_reports_its_database(settings: Any) -> None:
    database = {"BACKEND": "search.backends.database", "INDEX": "health"}
    settings.KNOWLEDGE_SEARCH_BACKENDS = {"default": database}
    assert search_engine_check() == "database (postgresql)"


def test_elasticsearch_is_asked_within_the_timeout(settings: Any) -> None:
    assert search_engine_health(timeout=5).startswith("elasticsearch 8.")
    engine = settings.KNOWLEDGE_SEARCH_BACKENDS["default"]
    dead = {**engine, "URLS": ["http://127.0.0.1:9"], "OPTIONS": {**engine["OPTIONS"], "max_retries": 0}}
    settings.KNOWLEDGE_SEARCH_BACKENDS = {"default": dead}
    with pytest.raises(SearchUnavailable):
        search_engine_health(timeout=1)


@pytest.mark.django_db
def test_the_check_reports_an_index_built_with_another_embedder(settings: Any) -> None:
    database = {"BACKEND": "search.backends.database", "INDEX": "health"}
    settings.KNOWLEDGE_SEARCH_BACKENDS = {"default": database}
    backend = get_search_backend("default")
    assert search_engine_check() == "database (postgresql)", "no index yet: nothing to compare"
    chunk = make_chunk(1, 0)
    backend.index_chunks([make_item(chunk, [1.0] * 384)], dimensions=384)  # as before the record existed
    assert search_engine_check() == (
        "database (postgresql), embedder not recorded until `manage.py reindex --all --rebuild`"
    )
    configured = index_embedder().identity
    backend.rebuild([make_item(chunk, [1.0] * 384)], dimensions=384, model=configured)
    assert search_engine_check() == "database (postgresql)"
    backend.rebuild([make_item(chunk, [1.0] * 384)], dimensions=384, model="search.embedders.openai:x:384")
    with pytest.raises(IndexMismatch, match="search.embedders.openai:x:384") as error:
        search_engine_check()
    assert configured in error.value.message
