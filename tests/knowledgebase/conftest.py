from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.factories import knowledge_page, site_home


@pytest.fixture
def home(transactional_db: None) -> Any:
    return site_home()


@pytest.fixture
def section(home: Any) -> Any:
    from knowledgebase.models import KnowledgeIndexPage

    index = KnowledgeIndexPage(title="Docs", slug="docs")
    home.add_child(instance=index)
    index.save_revision().publish()
    return index


@pytest.fixture
def clean_index() -> Iterator[None]:
    from search.backends import get_search_backend

    get_search_backend().drop()
    yield
    get_search_backend().drop()


@pytest.fixture
def jobs_stay_queued(monkeypatch: pytest.MonkeyPatch) -> None:
    """Indexing jobs are created but no task is sent, as when the broker is down: the test plays the
    worker. `django_capture_on_commit_callbacks` cannot do this in a transactional test: the publish's
    atomic block commits, and its callbacks run, inside the capture. The session's real worker then
    indexed the test's pages alongside it, and once created the index while the test searched it (an
    HTTP 503 from the shard not yet started, in a fresh-clone CI run)."""
    from knowledgebase import services

    monkeypatch.setattr(services, "indexing_job_send", lambda job: False)


@pytest.fixture
def make_page(section: Any) -> Callable[..., Any]:
    def make(title: str, body: list[tuple[str, Any]], *, publish: bool = True, parent: Any = None) -> Any:
        return knowledge_page(parent or section, title=title, body=body, publish=publish)

    return make


def wait_for_jobs(source_type: str, source_id: int, *, timeout: float = 60.0) -> list[Any]:
    """Wait until every indexing job of a source has finished; returns them, newest first."""
    from knowledgebase.models import IndexingJob

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = list(IndexingJob.objects.filter(source_type=source_type, source_id=source_id))
        if jobs and all(job.is_finished for job in jobs):
            return jobs
        time.sleep(0.2)
    raise AssertionError(f"jobs of {source_type}:{source_id} did not finish: {jobs}")
