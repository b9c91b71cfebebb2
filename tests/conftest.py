from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services import WorkerProcess, database_url, unreachable_services


def pytest_sessionstart(session: pytest.Session) -> None:
    problems = unreachable_services()
    if problems:
        pytest.exit(
            "Required services are not reachable (start them with `make services`):\n  - "
            + "\n  - ".join(problems),
            returncode=3,
        )


@pytest.fixture(scope="session")
def celery_worker(django_db_setup: None, django_db_blocker) -> Iterator[WorkerProcess]:  # noqa: ANN001
    """A real worker process consuming from Redis and writing to the test database."""
    from django.db import connection

    with django_db_blocker.unblock():
        worker = WorkerProcess(database_url=database_url(connection.settings_dict))
    worker.start()
    yield worker
    worker.stop()
