"""Celery tasks of the knowledge pipeline: small, idempotent, taking ids and calling one service."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import redis.exceptions
from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from knowledgebase import importing, services
from knowledgebase.index_audit import index_audit, index_audit_fix
from knowledgebase.models import ImportRun, IndexingJob
from search.errors import SearchUnavailable

logger = logging.getLogger(__name__)

# Only failures that go away by themselves are retried; anything else fails the job with its reason.
TRANSIENT = (
    SearchUnavailable,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OperationalError,
)


def _job(job_id: int) -> IndexingJob | None:
    job = IndexingJob.objects.filter(pk=job_id).first()
    if job is None:
        logger.info("indexing job %s is gone; nothing to do", job_id)
    return job


def _sync(task, job_id: int) -> str:
    job = _job(job_id)
    if job is None:
        return "missing"
    try:
        return services.source_sync(job).status
    except TRANSIENT as e:
        # The retry settings are read now, not when the task was registered, so a changed setting (and a
        # test's override) takes effect without re-importing the tasks.
        max_retries = settings.KNOWLEDGE_INDEXING_MAX_RETRIES
        if task.request.retries >= max_retries:
            services.job_fail(
                job, code="unavailable", message=f"Gave up after {task.request.retries} retries: {e}"
            )
            raise
        services.job_requeued(job, message=str(e))
        raise task.retry(
            exc=e, countdown=_retry_countdown(task.request.retries), max_retries=max_retries
        ) from e
    except Exception as e:
        # Not retried (it would fail the same way), but never left "processing": editors see the reason.
        services.job_fail(job, code="error", message=f"{type(e).__name__}: {e}"[:2000])
        raise


def _retry_countdown(retries: int) -> int:
    """Exponential backoff (2, 4, 8 ... s, full jitter) capped well below the broker's visibility timeout,
    so a waiting retry is never redelivered as a duplicate."""
    return int(
        get_exponential_backoff_interval(
            factor=2, retries=retries, maximum=settings.KNOWLEDGE_INDEXING_RETRY_BACKOFF_MAX, full_jitter=True
        )
    )


def _indexing_task(name: str) -> Any:
    """Indexing tasks retry only transient failures (`_sync`), acknowledged once done."""
    return shared_task(bind=True, name=name, acks_late=True)


@_indexing_task("knowledgebase.index_source")
def index_source(self, job_id: int) -> str:
    return _sync(self, job_id)


@_indexing_task("knowledgebase.remove_source")
def remove_source(self, job_id: int) -> str:
    # The same sync as indexing: it removes the source because it is no longer live.
    return _sync(self, job_id)


@shared_task(name="knowledgebase.reindex_all", queue="bulk")
def reindex_all() -> int:
    return services.reindex_all_enqueue(reason="reindex all")


@shared_task(name="knowledgebase.requeue_stale_jobs")
def requeue_stale_jobs() -> int:
    """Send again jobs that stayed queued (the broker was down when they were created), and recover jobs
    still `processing` past the task time limit (their worker died)."""
    cutoff = timezone.now() - timedelta(seconds=settings.KNOWLEDGE_STALE_JOB_SECONDS)
    count = 0
    for job in IndexingJob.objects.filter(status=IndexingJob.Status.QUEUED, created_at__lt=cutoff):
        count += services.indexing_job_send(job)
    dead_before = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    recovered = services.jobs_recover(started_before=dead_before)
    return count + recovered["requeued"]


@shared_task(name="knowledgebase.index_audit", queue="bulk")
def index_audit_run(fix: bool = True) -> dict[str, int]:
    """The daily audit (Celery beat): the report goes to the cache for the admin and /metrics; with `fix`
    the differences are queued for repair."""
    report = index_audit()
    return {**report.counts(), "repairs_queued": index_audit_fix(report) if fix else 0}


@shared_task(name="knowledgebase.import_run_execute", queue="bulk")
def import_run_execute(run_id: int) -> str:
    run = ImportRun.objects.filter(pk=run_id).first()
    if run is None:
        logger.info("import run %s is gone; nothing to do", run_id)
        return "missing"
    return importing.import_run_execute(run).status
