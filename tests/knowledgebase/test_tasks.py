"""The indexing tasks retry only transient failures, with their limits read when they run."""

from __future__ import annotations

from typing import Any

import pytest

from knowledgebase.models import IndexingJob
from knowledgebase.tasks import _retry_countdown, index_source


@pytest.mark.django_db(transaction=True)
def test_a_dead_engine_is_retried_as_configured_now_then_the_job_fails_with_the_reason(settings: Any) -> None:
    # A job for a source that is not live: the sync removes it from the index, which needs the engine.
    job = IndexingJob.objects.create(source_type="page", source_id=987_654_321, action="remove")
    engine = settings.KNOWLEDGE_SEARCH_BACKENDS["default"]
    dead = {
        **engine,
        "URLS": ["http://127.0.0.1:9"],
        "TIMEOUT": 1,
        "OPTIONS": {**engine.get("OPTIONS", {}), "max_retries": 0},
    }
    settings.KNOWLEDGE_SEARCH_BACKENDS = {"default": dead}
    settings.KNOWLEDGE_INDEXING_MAX_RETRIES = 2
    settings.KNOWLEDGE_INDEXING_RETRY_BACKOFF_MAX = 1

    result = index_source.apply(args=[job.pk])

    job.refresh_from_db()
    assert result.failed()
    assert job.status == IndexingJob.Status.FAILED
    assert job.error_code == "unavailable"
    assert "Gave up after 2 retries" in job.error
    assert job.attempts == 3, "the first run and two retries"


def test_retry_countdowns_stay_under_the_configured_cap(settings: Any) -> None:
    settings.KNOWLEDGE_INDEXING_RETRY_BACKOFF_MAX = 5
    assert all(0 <= _retry_countdown(retries) <= 5 for retries in range(12))
    settings.KNOWLEDGE_INDEXING_RETRY_BACKOFF_MAX = 300
    assert max(_retry_countdown(8) for _ in range(50)) > 5, "full jitter up to 2**9 s, capped at 300"
