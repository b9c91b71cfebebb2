from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services import ARTIFACTS, TcpProxy, WorkerProcess, database_url, unreachable_services

# The session's worker once started, so a transactional test's teardown can wait for it (see below).
SESSION_WORKERS: list[WorkerProcess] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    problems = unreachable_services()
    if problems:
        pytest.exit(
            "Required services are not reachable (start them with `make services`):\n  - "
            + "\n  - ".join(problems),
            returncode=3,
        )


def _transactional(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])):
        return True
    names = getattr(item, "fixturenames", ())
    return "transactional_db" in names or "live_server" in names


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Before a transactional test's fixtures are torn down (its flush TRUNCATEs every table), let the
    session worker finish what this or an earlier test sent it (WorkerProcess.wait_idle says why)."""
    if SESSION_WORKERS and _transactional(item):
        waited = SESSION_WORKERS[0].wait_idle()
        if waited > 1.0:  # kept to see what the wait costs a full run
            with (ARTIFACTS / "worker-idle-waits.log").open("a") as log:
                log.write(f"{waited:.1f}s {item.nodeid}\n")
    yield


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
    SESSION_WORKERS.append(worker)
    yield worker
    SESSION_WORKERS.remove(worker)
    worker.stop()
