"""/healthz's search component answers for every backend: the network engine within the timeout given, the
database backend (which takes no timeout) by its own connection."""

from __future__ import annotations

from typing import Any

import pytest

from search.errors import SearchUnavailable
from search.health import search_engine_check, search_engine_health


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
