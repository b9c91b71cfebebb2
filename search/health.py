"""Health of the configured knowledge search engine (used by /healthz and `manage.py doctor`)."""

from __future__ import annotations

from django.conf import settings

from search.backends import get_search_backend
from search.services import index_embedder


def search_engine_health(*, timeout: float) -> str:
    """The default backend's own description ("elasticsearch 8.19.8, green", "database (postgresql)");
    raises SearchUnavailable when it cannot answer within `timeout` seconds, and IndexMismatch when the
    index was built with another embedder than KNOWLEDGE_EMBEDDER (every vector search would fail)."""
    backend = get_search_backend("default")
    status = backend.health(timeout=timeout)
    # One mapping (or row) read; no model is loaded: the identity comes from the embedder's settings.
    recorded = backend.stored_model()
    if recorded == "":
        return f"{status}, embedder not recorded until `manage.py reindex --all --rebuild`"
    if recorded is not None:
        backend.model_check(recorded, index_embedder().identity)
    return status


def search_engine_check() -> str:
    """The /healthz component (registered in SearchConfig.ready()), bounded by HEALTHZ_TIMEOUT."""
    return search_engine_health(timeout=settings.HEALTHZ_TIMEOUT)
