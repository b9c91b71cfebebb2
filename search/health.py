"""Health of the configured knowledge search engine (used by /healthz and `manage.py doctor`)."""

from __future__ import annotations

from django.conf import settings

from search.backends import get_search_backend


def search_engine_health(*, timeout: float) -> str:
    """The default backend's own description ("elasticsearch 8.19.8, green", "database (postgresql)");
    raises SearchUnavailable when it cannot answer within `timeout` seconds."""
    return get_search_backend("default").health(timeout=timeout)


def search_engine_check() -> str:
    """The /healthz component (registered in SearchConfig.ready()), bounded by HEALTHZ_TIMEOUT."""
    return search_engine_health(timeout=settings.HEALTHZ_TIMEOUT)
