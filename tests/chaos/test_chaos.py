"""Faults survived: the worker killed, Redis, PostgreSQL and Elasticsearch cut or slowed under it, a full
disk under an upload. After each, no editor's save failed, the user got a clear error (never a 500), the
worker carried on unaided and the index audit (the oracle: knowledgebase.index_audit) finds no difference.

`pytest -m chaos` runs these alone; they are part of `make test`."""

from __future__ import annotations

import errno
import io
import random
import signal
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import override_settings

from knowledgebase.index_audit import index_audit
from knowledgebase.models import IndexingJob, KnowledgeDocument, KnowledgeIndexPage
from knowledgebase.services import indexing_job_enqueue
from knowledgebase.tasks import requeue_stale_jobs
from tests.chaos.conftest import Chaos
from tests.chatbot.api_helpers import api_client, fresh_rate_limits, token_user
from tests.factories import heading, knowledge_page, paragraph, site_home, user
from tests.services import WorkerProcess

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("clean_index"),
]

Status = IndexingJob.Status


@pytest.fixture
def clean_index() -> Iterator[None]:
    from search.backends import get_search_backend

    get_search_backend().drop()
    yield
    get_search_backend().drop()


@pytest.fixture
def section() -> Any:
    index = KnowledgeIndexPage(title="Docs", slug="docs")
    site_home().add_child(instance=index)
    index.save_revision().publish()
    return index


def _long_text(seed: int, sections: int = 4) -> str:
    """Markdown that keeps the worker busy for a few seconds (dozens of passages to embed), well inside
    the chaos worker's 15 s soft time limit."""
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ne", "su", "ra", "to", "vi", "de", "po", "qua", "zen"]

    def word() -> str:
        return "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))

    parts = []
    for n in range(sections):
        parts.append(f"## Section {n} {word()}\n")
        for _ in range(6):
            parts.append(" ".join(word() for _ in range(40)) + ".\n")
    return "\n".join(parts)


def _document(name: str, text: str) -> KnowledgeDocument:
    owner = user(f"owner-{name}", is_staff=True)
    document = KnowledgeDocument(title=name, owner=owner, kind="md")
    document.file.save(f"{name}.md", ContentFile(text.encode()), save=False)
    document.save()
    indexing_job_enqueue("document", document.pk, reason="chaos test")
    return document


def _job(document: KnowledgeDocument) -> IndexingJob:
    return IndexingJob.objects.filter(source_type="document", source_id=document.pk).latest("pk")


def _wait(predicate: Any, *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _page_job(page: Any, *, timeout: float, what: str, **state: Any) -> None:
    """Wait until a job of `page` is in `state` (status=..., error_code=...)."""
    _wait(
        lambda: IndexingJob.objects.filter(source_type="page", source_id=page.pk, **state).exists(),
        timeout=timeout,
        what=what,
    )


def _processing(document: KnowledgeDocument) -> IndexingJob:
    return _wait(
        lambda: IndexingJob.objects.filter(
            source_type="document", source_id=document.pk, status=Status.PROCESSING
        ).first(),
        timeout=60,
        what="the worker to start the job",
    )


def _finished(document: KnowledgeDocument, *, timeout: float = 120) -> IndexingJob:
    return _wait(lambda: (job := _job(document)).is_finished and job, timeout=timeout, what="the job")


def _audit_clean(chaos: Chaos) -> None:
    report = index_audit()
    recovery = round(time.monotonic() - chaos.fault_ended, 1)
    chaos.record(recovery_seconds=recovery, audit=report.counts(), pending=len(report.pending))
    assert report.differences == 0, report.as_dict()
    assert report.pending == [], report.as_dict()


def _kill_pool_child(chaos: Chaos) -> int:
    children = _wait(chaos.worker.pool_children, timeout=10, what="the worker's pool child")
    import os

    os.kill(children[0], signal.SIGKILL)
    return children[0]


def test_a_pool_child_killed_mid_job_is_redelivered_and_the_job_indexed_once(healed: Chaos) -> None:
    document = _document("kill-child", _long_text(1))
    _processing(document)
    killed = _kill_pool_child(healed)
    healed.fault_over()
    job = _finished(document)
    assert job.status == Status.INDEXED, (job.status, job.error)
    assert job.interruptions == 1
    assert killed not in healed.worker.pool_children(), "the pool replaced its child"
    assert healed.worker.process is not None and healed.worker.process.poll() is None
    _audit_clean(healed)


def test_the_third_delivery_of_a_job_interrupted_twice_fails_it_as_poison(
    healed: Chaos, section: Any
) -> None:
    document = _document("poison", _long_text(2))
    for interruptions in (0, 1):
        _wait(
            lambda n=interruptions: IndexingJob.objects.filter(
                pk=_job(document).pk, status=Status.PROCESSING, interruptions=n
            ).exists(),
            timeout=60,
            what=f"delivery {interruptions + 1}",
        )
        _kill_pool_child(healed)
    job = _finished(document, timeout=60)
    assert (job.status, job.error_code, job.interruptions) == (Status.FAILED, "poison", 2), job.error
    assert "manage.py extract" in job.error
    # The worker is not stuck on it: the next publish is indexed.
    page = knowledge_page(section, title="After the poison", body=[heading("Next"), paragraph("The okapi.")])
    _page_job(page, status=Status.INDEXED, timeout=60, what="the next job")
    # A poisoned file has its verdict (failed, with the reason on its status panel), like a refused one:
    # the audit counts it as judged, not missing.
    _audit_clean(healed)


def test_a_worker_killed_mid_job_and_restarted_finishes_it(healed: Chaos) -> None:
    document = _document("kill-worker", _long_text(3))
    job = _processing(document)
    healed.worker.kill()
    assert _job(document).status == Status.PROCESSING, "nobody finished it while the worker was dead"
    # Redis hands an unacknowledged message out again once the visibility timeout (20 s here) has passed
    # since its delivery; a worker restored it when it starts.
    started = job.started_at.timestamp() if job.started_at else time.time()
    time.sleep(max(0.0, started + 21 - time.time()))
    healed.worker.start()
    healed.fault_over()
    job = _finished(document, timeout=90)
    assert job.status == Status.INDEXED, (job.status, job.error)
    assert job.interruptions == 1
    _audit_clean(healed)


def test_a_worker_killed_during_a_reindex_leaves_the_rest_to_the_other(healed: Chaos) -> None:
    """Issue 20: two workers take the bulk queue during `manage.py reindex --all --queue`; one is killed
    while both are busy; the other finishes the reindex, the job it was killed in included once Redis
    hands that message out again (visibility timeout, 20 s here)."""
    owner = user("owner-reindex", is_staff=True)
    for n in range(4):  # live files with no job yet: the reindex queues the first ones
        document = KnowledgeDocument(title=f"reindex-{n}", owner=owner, kind="md")
        text = _long_text(20 + n, sections=1)
        document.file.save(f"reindex-{n}.md", ContentFile(text.encode()), save=False)
        document.save()
    worker = healed.worker
    other = WorkerProcess(
        database_url=worker.database_url,
        elasticsearch_url=worker.elasticsearch_url,
        env=worker.env,
        log_name="celery-worker-chaos-other.log",
    )
    other.start()
    try:
        call_command("reindex", "--all", "--queue", stdout=io.StringIO())
        jobs = IndexingJob.objects.filter(reason="manage.py reindex")
        assert jobs.count() == 4 and set(jobs.values_list("queue", flat=True)) == {"bulk"}
        # Both busy, so the one killed is in the middle of a job.
        busy = jobs.filter(status=Status.PROCESSING)
        _wait(lambda: busy.count() == 2, timeout=60, what="both workers busy")
        worker.kill()
        healed.fault_over()
        finished = _wait(
            lambda: all(job.is_finished for job in jobs.all()) and list(jobs.all()),
            timeout=120,
            what="the other worker to finish the reindex",
        )
    finally:
        other.stop()
    assert [job.status for job in finished] == [Status.INDEXED] * 4, [(j.status, j.error) for j in finished]
    assert sum(job.interruptions for job in finished) == 1, "exactly the killed worker's job was redelivered"
    _audit_clean(healed)


def _publisher_broker(url: str) -> None:
    from datacollection.celery import app

    # The app caches its connection pools; drop them so the next send connects to `url`.
    app.conf.update(broker_url=url)
    setattr(app, "_pool", None)  # noqa: B010
    setattr(app.amqp, "_producer_pool", None)  # noqa: B010


def test_redis_down_for_20_seconds_during_50_publishes(healed: Chaos, section: Any) -> None:
    from django.conf import settings

    from datacollection.celery import app

    original = app.conf.broker_url
    _publisher_broker(healed.redis.url_for(settings.REDIS_URL))
    pages = []
    try:
        healed.redis.disable()
        down_at = time.monotonic()
        for n in range(50):
            pages.append(
                knowledge_page(
                    section,
                    title=f"Outage {n}",
                    body=[heading(f"Part {n}"), paragraph(f"Entry {n} of the outage.")],
                )
            )
        assert all(page.live for page in pages), "every editor's publish succeeded while Redis was down"
        time.sleep(max(0.0, down_at + 20 - time.monotonic()))
    finally:
        healed.redis.enable()
        healed.fault_over()
        _publisher_broker(original)
    waiting = IndexingJob.objects.filter(source_type="page", status=Status.QUEUED).count()
    assert waiting >= 50, "the jobs wait in the database, not in the lost broker"
    # Celery beat's sweeper (every minute in production) sends again what the broker never got.
    with override_settings(KNOWLEDGE_STALE_JOB_SECONDS=0):
        assert requeue_stale_jobs() >= 50
    _wait(
        lambda: (
            not IndexingJob.objects.filter(
                source_type="page", status__in=[Status.QUEUED, Status.PROCESSING]
            ).exists()
        ),
        timeout=180,
        what="the 50 pages to be indexed once Redis is back",
    )
    assert not IndexingJob.objects.filter(status=Status.FAILED).exists()
    _audit_clean(healed)


def test_postgresql_lost_by_the_worker_mid_job(healed: Chaos) -> None:
    document = _document("postgres", _long_text(4))
    _processing(document)
    healed.postgres.reset_connections()
    time.sleep(5)
    healed.postgres.heal()
    healed.fault_over()
    # Whatever the worker was doing failed on a dead connection: the job retries, or the sweeper finds it
    # `processing` past the time limit and sends it again.
    time.sleep(2)
    with override_settings(CELERY_TASK_TIME_LIMIT=-60):
        requeue_stale_jobs()
    job = _finished(document, timeout=120)
    assert job.status == Status.INDEXED, (job.status, job.error)
    _audit_clean(healed)


def test_elasticsearch_slow_then_resetting_under_the_worker(healed: Chaos, section: Any) -> None:
    healed.elasticsearch.latency = 2.0
    slow = knowledge_page(
        section, title="Slow engine", body=[heading("Latency"), paragraph("The tapir waits.")]
    )
    _page_job(slow, status=Status.INDEXED, timeout=90, what="indexing through a 2 s latency")
    healed.elasticsearch.heal()
    healed.elasticsearch.reset_connections()
    reset = knowledge_page(
        section, title="Resetting engine", body=[heading("Resets"), paragraph("The ibex waits.")]
    )
    _page_job(reset, error_code="retrying", timeout=60, what="the job to wait for a retry")
    assert reset.live
    healed.elasticsearch.heal()
    healed.fault_over()
    _page_job(reset, status=Status.INDEXED, timeout=90, what="indexing once the engine answers again")
    _audit_clean(healed)


def test_the_flood_stage_watermark_makes_jobs_wait_not_fail(healed: Chaos, section: Any) -> None:
    from search.backends import get_search_backend

    backend: Any = get_search_backend()  # the Elasticsearch backend: its client sets the block
    first = knowledge_page(section, title="Before the flood", body=[heading("Dry"), paragraph("The heron.")])
    _page_job(first, status=Status.INDEXED, timeout=60, what="the first page")
    blocked = {"index.blocks.read_only_allow_delete": True}
    backend.client.indices.put_settings(index=backend.index_name, settings=blocked)
    try:
        page = knowledge_page(section, title="In the flood", body=[heading("Wet"), paragraph("The egret.")])
        _page_job(
            page, error_code="retrying", timeout=60, what="the job to wait while the index is read-only"
        )
    finally:
        backend.client.indices.put_settings(
            index=backend.index_name, settings={"index.blocks.read_only_allow_delete": None}
        )
        healed.fault_over()
    _page_job(page, status=Status.INDEXED, timeout=90, what="indexing once the block is lifted")
    _audit_clean(healed)


def test_an_upload_to_a_full_disk_gets_507_and_keeps_nothing() -> None:
    from django.conf import settings
    from django.core.files.storage import FileSystemStorage

    _, token = token_user("uploader")
    client = api_client(token)
    before = {p for p in settings.PRIVATE_ROOT.rglob("*") if p.is_file()}
    original = getattr(FileSystemStorage, "_save")  # noqa: B009 - django-stubs lack the private method

    def save_then_fill_the_disk(self: Any, name: str, content: Any) -> str:
        # The first bytes land, then the disk is full: what a real ENOSPC mid-write looks like.
        saved = original(self, name, content)
        raise OSError(errno.ENOSPC, "No space left on device", saved)

    file = SimpleUploadedFile("notes.md", b"# Notes\n\nThe wombat digs.\n", content_type="text/markdown")
    with fresh_rate_limits(), mock.patch.object(FileSystemStorage, "_save", save_then_fill_the_disk):
        response = client.post("/api/chatbot/documents/", {"file": file}, format="multipart")
    assert response.status_code == 507, response.content
    assert response.json()["error"]["code"] == "storage_full"
    assert "storage is full" in response.json()["error"]["message"]
    assert not KnowledgeDocument.objects.exists()
    assert {p for p in settings.PRIVATE_ROOT.rglob("*") if p.is_file()} == before, "no partial file kept"
