from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services import TcpProxy, WorkerProcess, database_url, unreachable_services


def pytest_sessionstart(session: pytest.Session) -> None:
    problems = unreachable_services()
    if problems:
        pytest.exit(
            "Required services are not reachable (start them with `make services`):\n  - "
            + "\n  - ".join(problems),
            returncode=3,
        )


@pytest.fixture(scope="session")
def elasticsearch_proxy() -> Iterator[TcpProxy]:
    """The worker reaches Elasticsearch through this, so a test can make it look down to the worker."""
    from urllib.parse import urlsplit

    from django.conf import settings

    target = urlsplit(settings.ELASTICSEARCH_URL)
    proxy = TcpProxy(target_host=target.hostname or "127.0.0.1", target_port=target.port or 9200).start()
    yield proxy
    proxy.close()


@pytest.fixture(scope="session")
def celery_worker(
    django_db_setup: None, django_db_blocker, elasticsearch_proxy: TcpProxy
) -> Iterator[WorkerProcess]:
    """A real worker process consuming from Redis and writing to the test database."""
    from django.db import connection

    with django_db_blocker.unblock():
        worker = WorkerProcess(
            database_url=database_url(connection.settings_dict), elasticsearch_url=elasticsearch_proxy.url
        )
    worker.start()
    yield worker
    worker.stop()
