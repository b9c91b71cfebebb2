"""Start-up check of the search layer's settings (SearchConfig.ready()): every backend, embedder and
re-ranker alias with its keys, KNOWLEDGE_RETRIEVAL and the index embedder's alias. Nothing is created:
clients and models stay lazy."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from search.backends import search_backends_check
from search.embedders import embedders_check
from search.rerankers import rerankers_check
from search.retrieval import RetrievalConfig


def settings_check() -> None:
    """Raise ImproperlyConfigured naming the setting, alias and key that is wrong."""
    search_backends_check()
    embedders_check()
    rerankers_check()
    RetrievalConfig.from_settings()
    embedder = getattr(settings, "KNOWLEDGE_EMBEDDER", "default")
    if embedder not in getattr(settings, "KNOWLEDGE_EMBEDDERS", {}):
        raise ImproperlyConfigured(
            f"KNOWLEDGE_EMBEDDER = {embedder!r} is not a KNOWLEDGE_EMBEDDERS alias; "
            f"configured: {', '.join(sorted(getattr(settings, 'KNOWLEDGE_EMBEDDERS', {}))) or 'none'}."
        )
