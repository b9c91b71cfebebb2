"""The chaos suite's worker: the real Celery worker, reaching Redis, PostgreSQL and Elasticsearch through
TCP proxies the tests can cut, slow down or reset, with time limits short enough to recover within a test.

It replaces the session's worker for these tests (both would take the same queues) and brings that one
back afterwards."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.services import TcpProxy, WorkerProcess, database_url

# Short enough to see a redelivery within a test; the settings refuse any order but soft < hard < visibility.
CHAOS_ENV = {
    "CELERY_VISIBILITY_TIMEOUT": "20",
    # kombu sweeps for unacknowledged messages every 10 s and scans on every 10th sweep: 1 s makes a
    # dead worker's task come back within the visibility timeout + 10 s instead of + 100 s.
    "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    "CELERY_TASK_SOFT_TIME_LIMIT": "15",
    "CELERY_TASK_TIME_LIMIT": "18",
    "KNOWLEDGE_EXTRACTION_TIMEOUT": "12",
    "KNOWLEDGE_INDEXING_RETRY_BACKOFF_MAX": "2",
}


@dataclass
class Chaos:
    worker: WorkerProcess
    redis: TcpProxy
    postgres: TcpProxy
    elasticsearch: TcpProxy

    # When the last fault of the running test ended; the audit's all-clear measures recovery from it.
    fault_ended: float = field(default_factory=time.monotonic)
    test: str = ""

    def fault_over(self) -> None:
        self.fault_ended = time.monotonic()

    def record(self, **figures: object) -> None:
        """Figures for `make bench BENCH=reliability` (CHAOS_RECORD names the file); tests assert anyway."""
        path = os.environ.get("CHAOS_RECORD")
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(json.dumps({"test": self.test, **figures}) + "\n")

    def heal(self) -> None:
        for proxy in (self.redis, self.postgres, self.elasticsearch):
            proxy.heal()

    def restart_worker(self) -> None:
        self.worker.kill()
        self.worker.start()


def _proxy(url: str, default_port: int) -> TcpProxy:
    parts = urlsplit(url)
    return TcpProxy(target_host=parts.hostname or "127.0.0.1", target_port=parts.port or default_port).start()


@pytest.fixture(scope="module")
def chaos(
    celery_worker: WorkerProcess, django_db_blocker: Any, elasticsearch_proxy: TcpProxy
) -> Iterator[Chaos]:
    from django.conf import settings
    from django.db import connection

    with django_db_blocker.unblock():
        db_url = database_url(connection.settings_dict)
    redis = _proxy(settings.REDIS_URL, 6379)
    postgres = _proxy(db_url, 5432)
    worker = WorkerProcess(
        database_url=postgres.url_for(db_url),
        elasticsearch_url=elasticsearch_proxy.url,
        env={**CHAOS_ENV, "REDIS_URL": redis.url_for(settings.REDIS_URL)},
        log_name="celery-worker-chaos.log",
    )
    celery_worker.stop()
    try:
        worker.start()
        state = Chaos(worker=worker, redis=redis, postgres=postgres, elasticsearch=elasticsearch_proxy)
        yield state
    finally:
        elasticsearch_proxy.heal()
        worker.stop()
        redis.close()
        postgres.close()
        celery_worker.start()


@pytest.fixture
def healed(chaos: Chaos, request: pytest.FixtureRequest) -> Iterator[Chaos]:
    """Every test starts and ends with the services reachable and a live worker."""
    chaos.test = request.node.name
    chaos.fault_over()
    chaos.heal()
    if chaos.worker.process is None or chaos.worker.process.poll() is not None:
        chaos.worker.start()
    yield chaos
    chaos.heal()
