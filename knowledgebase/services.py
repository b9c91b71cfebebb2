"""Writes of the knowledge pipeline: queue indexing jobs, index a source, remove a source, rebuild.

Tasks and signal handlers call these. What a source says and its chunks are read by
knowledgebase/content.py; the index itself is written only by search/services.py, which these call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from django.db import transaction
from django.utils import timezone

from datacollection.celery import task_send
from knowledgebase.content import SourceContent, source_chunks, source_content
from knowledgebase.importing import import_run_send
from knowledgebase.models import (
    DocumentVersion,
    ImportRun,
    IndexedSource,
    IndexingJob,
    KnowledgeDocument,
    KnowledgePage,
)
from knowledgebase.models.indexing import SourceType
from knowledgebase.signals import source_index_changed
from knowledgebase.sources import source_object
from search import services as search_services
from search.errors import KnowledgeError
from search.values import Chunk, text_hash

logger = logging.getLogger(__name__)

Status = IndexingJob.Status


# --- queueing -----------------------------------------------------------------------------------


def indexing_job_enqueue(
    source_type: str,
    source_id: int,
    *,
    action: str = IndexingJob.Action.INDEX,
    reason: str,
    revision_id: int | None = None,
    user: Any = None,
    queue: str = "interactive",
) -> IndexingJob:
    """Record a job and send it to Celery once the surrounding transaction commits.

    Never raises because the broker is down: the editor's save must not fail. The job stays `queued`
    and `requeue_stale_jobs` (Celery beat) or `manage.py reindex` sends it again later.
    """
    job = IndexingJob.objects.create(
        source_type=source_type,
        source_id=source_id,
        action=action,
        reason=reason,
        revision_id=revision_id,
        requested_by=user if getattr(user, "is_authenticated", False) else None,
        queue=queue,
    )
    transaction.on_commit(lambda: indexing_job_send(job))
    return job


def indexing_job_send(job: IndexingJob) -> bool:
    name = (
        "knowledgebase.index_source"
        if job.action == IndexingJob.Action.INDEX
        else "knowledgebase.remove_source"
    )
    try:
        task_send(name, args=(job.pk,), queue=job.queue)
    except Exception as e:  # noqa: BLE001 - any broker failure must leave the save intact
        logger.warning("could not queue indexing job %s (%s); it stays queued for a retry", job.pk, e)
        return False
    return True


# --- indexing -----------------------------------------------------------------------------------


def _job_update(job: IndexingJob, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    job.save(update_fields=list(fields))


def _superseded(job: IndexingJob) -> bool:
    """A later job for the same source is waiting: let it do the work (rapid republishes coalesce)."""
    return IndexingJob.objects.filter(
        source_type=job.source_type, source_id=job.source_id, pk__gt=job.pk, status=Status.QUEUED
    ).exists()


def source_sync(job: IndexingJob, *, progress: Callable[[int, int], None] | None = None) -> IndexingJob:
    """Bring the index in line with the live state of a job's source, whatever the job's action said: a
    remove job that runs after the page was published again indexes it; an index job for a deleted page
    removes it. So tasks are idempotent and safe to run out of order.

    Transient errors (search engine down) propagate for the task to retry; permanent ones mark the job
    failed with the reason."""
    if job.is_finished:
        return job
    if job.status == Status.PROCESSING and _interruption_poisons(job):
        return job
    if _superseded(job):
        _job_update(job, status=Status.SUPERSEDED, finished_at=timezone.now())
        return job
    obj = source_object(job.source_type, job.source_id)
    if obj is None:
        # Unpublished or deleted since the job was queued: what is live is "nothing".
        return source_remove(job)
    _job_update(job, status=Status.PROCESSING, started_at=timezone.now(), attempts=job.attempts + 1, error="")
    try:
        content = source_content(obj)
        chunks = source_chunks(job.source_type, job.source_id, content)
    except KnowledgeError as e:
        _job_update(job, status=Status.FAILED, error=e.message, error_code=e.code, finished_at=timezone.now())
        return job
    _write(job, content, chunks, progress=progress)
    return job


class _NewerRevisionIndexed(Exception):
    """Raised inside the revision guard: a newer revision of the source is being or was indexed."""


class _SourceGone(Exception):
    """Raised inside the revision guard: the source was deleted or unpublished after it was read."""


def _revision_guard(job: IndexingJob, content: SourceContent) -> Callable[[], AbstractContextManager[None]]:
    """A short transaction that locks the source's state row and refuses to go on when a newer revision
    was claimed meanwhile or the source is no longer live. Each index write runs inside one; nothing slow
    (extraction, embedding) does, so the lock (SQLite's database write lock, a row lock on PostgreSQL) is
    held for milliseconds.

    The first write of a revision claims it (the row's revision_id), so an older task racing this one is
    refused from its next write on, not only at its end; and every write is followed by another guard
    (the removal of stale chunks, then the state save), so a task that wrote for a source deleted meanwhile
    finds out and removes what it wrote."""

    @contextmanager
    def guard() -> Iterator[None]:
        with transaction.atomic():
            state, _ = IndexedSource.objects.select_for_update().get_or_create(
                source_type=job.source_type, source_id=job.source_id
            )
            if state.revision_id and content.revision_id and state.revision_id > content.revision_id:
                raise _NewerRevisionIndexed
            if source_object(job.source_type, job.source_id) is None:
                raise _SourceGone
            if content.revision_id and state.revision_id != content.revision_id:
                state.revision_id = content.revision_id
                state.save(update_fields=["revision_id"])
            yield

    return guard


def _write(
    job: IndexingJob,
    content: SourceContent,
    chunks: list[Chunk],
    *,
    progress: Callable[[int, int], None] | None,
) -> None:
    def report(done: int, total: int) -> None:
        # Committed at once (autocommit): the editor's status panel shows it while the work goes on.
        IndexingJob.objects.filter(pk=job.pk).update(progress_done=done, progress_total=total)
        if progress:
            progress(done, total)

    guard = _revision_guard(job, content)
    try:
        written = search_services.source_sync(
            job.source_type, job.source_id, chunks, guard=guard, progress=report
        )
        with guard():
            state = IndexedSource.objects.get(source_type=job.source_type, source_id=job.source_id)
            _indexed_state_save(
                job.source_type, job.source_id, content, chunks, state=state, embedded=written.embedded
            )
            _job_update(
                job, status=Status.INDEXED, finished_at=timezone.now(), revision_id=content.revision_id
            )
            _index_changed(job.source_type, job.source_id, removed=False)
    except _NewerRevisionIndexed:
        # A newer revision is indexed already: an older task never overwrites it.
        _job_update(job, status=Status.SUPERSEDED, finished_at=timezone.now())
    except _SourceGone:
        # Deleted or unpublished while this task worked: what is live is "nothing", including whatever
        # this task wrote before it found out.
        source_remove(job)


def _index_changed(source_type: str, source_id: int, *, removed: bool) -> None:
    transaction.on_commit(
        lambda: source_index_changed.send(
            sender=IndexedSource, source_type=source_type, source_id=source_id, removed=removed
        )
    )


def _indexed_state_save(
    source_type: str,
    source_id: int,
    content: SourceContent,
    chunks: list[Chunk],
    *,
    state: IndexedSource | None = None,
    embedded: int | None = None,
) -> None:
    """Record what is now indexed for a source, and the processed version."""
    state = state or IndexedSource(source_type=source_type, source_id=source_id)
    source_hash = text_hash("\n".join(c.content_hash for c in chunks))
    state.revision_id = content.revision_id
    state.content_hash = source_hash
    state.title = content.title[:255]
    state.url = content.url[:500]
    state.visibility = str(content.access.visibility)
    state.group_ids = list(content.access.group_ids)
    state.owner_id = content.access.owner_id
    state.chunk_count = len(chunks)
    state.indexed_at = timezone.now()
    state.save()
    DocumentVersion.objects.create(
        source_type=source_type,
        source_id=source_id,
        revision_id=content.revision_id,
        content_hash=source_hash,
        chunk_count=len(chunks),
        embedded_count=len(chunks) if embedded is None else embedded,
        stats=content.stats,
    )


def source_remove(job: IndexingJob) -> IndexingJob:
    """Remove a source from the index (unpublished, deleted, or no longer live)."""
    _job_update(job, status=Status.PROCESSING, started_at=timezone.now(), attempts=job.attempts + 1)
    with transaction.atomic():
        IndexedSource.objects.select_for_update().filter(
            source_type=job.source_type, source_id=job.source_id
        ).first()
        search_services.source_delete(job.source_type, job.source_id)
        IndexedSource.objects.filter(source_type=job.source_type, source_id=job.source_id).delete()
        _job_update(job, status=Status.REMOVED, finished_at=timezone.now())
        _index_changed(job.source_type, job.source_id, removed=True)
    return job


def page_tree_enqueue(page: Any, *, reason: str, user: Any = None) -> int:
    """Re-index a page and its live knowledge descendants (their URLs or restrictions changed)."""
    pages = KnowledgePage.objects.live().descendant_of(page, inclusive=True)
    count = 0
    for knowledge_page in pages.only("pk"):
        indexing_job_enqueue(SourceType.PAGE, knowledge_page.pk, reason=reason, user=user)
        count += 1
    return count


def job_fail(job: IndexingJob, *, code: str, message: str) -> None:
    _job_update(job, status=Status.FAILED, error_code=code, error=message, finished_at=timezone.now())


def job_requeued(job: IndexingJob, *, message: str) -> None:
    """A transient failure: the task will retry; the editor sees why it is waiting."""
    _job_update(job, status=Status.QUEUED, error=f"Waiting to retry: {message}", error_code="retrying")


def reindex_all_enqueue(*, reason: str, user: Any = None) -> int:
    """Queue every live knowledge page and document on the bulk queue (behind editors' own work)."""
    count = 0
    for page_id in KnowledgePage.objects.live().values_list("pk", flat=True):
        indexing_job_enqueue(SourceType.PAGE, page_id, reason=reason, user=user, queue="bulk")
        count += 1
    for document_id in KnowledgeDocument.objects.filter(live=True).values_list("pk", flat=True):
        indexing_job_enqueue(SourceType.DOCUMENT, document_id, reason=reason, user=user, queue="bulk")
        count += 1
    return count


def live_sources() -> list[tuple[str, int]]:
    pages = [(str(SourceType.PAGE), pk) for pk in KnowledgePage.objects.live().values_list("pk", flat=True)]
    documents = [
        (str(SourceType.DOCUMENT), pk)
        for pk in KnowledgeDocument.objects.filter(live=True).values_list("pk", flat=True)
    ]
    return pages + documents


def index_rebuild(*, progress: Callable[[int, int], object] | None = None) -> dict[str, int]:
    """Write every live source into a new index and switch to it atomically, so search never goes dark.
    Needed when the embedding model (and so the vector dimensions) changes.

    Sources changed while it ran (published, edited, restricted, deleted: each of these records a job)
    were written to the index being replaced, or read by the rebuild before they changed: once the alias
    points at the new index they are synced again, into it ("caught_up" in the result)."""
    started = timezone.now()
    sources = live_sources()
    states: list[tuple[str, int, SourceContent, list[Chunk]]] = []

    def source_chunk_lists() -> Iterator[list[Chunk]]:
        for done, (source_type, source_id) in enumerate(sources, start=1):
            obj = source_object(source_type, source_id)
            if obj is None:
                continue
            try:
                content = source_content(obj)
            except KnowledgeError as e:
                logger.warning("rebuild: %s:%s skipped: %s", source_type, source_id, e.message)
                continue
            chunks = source_chunks(source_type, source_id, content)
            states.append((source_type, source_id, content, chunks))
            yield chunks
            if progress:
                progress(done, len(sources))

    total = search_services.index_rebuild(source_chunk_lists())
    with transaction.atomic():
        IndexedSource.objects.all().delete()
        for source_type, source_id, content, chunks in states:
            _indexed_state_save(source_type, source_id, content, chunks)
        _index_changed("*", 0, removed=False)
    return {"chunks": total, "sources": len(states), "caught_up": _rebuild_catch_up(since=started)}


def _rebuild_catch_up(*, since: Any) -> int:
    """Sync again, in this process, every source with a job recorded since `since`."""
    changed = sorted(
        set(IndexingJob.objects.filter(created_at__gte=since).values_list("source_type", "source_id"))
    )
    for source_type, source_id in changed:
        job = IndexingJob.objects.create(
            source_type=source_type, source_id=source_id, reason="changed during the rebuild", queue="bulk"
        )
        source_sync(job)
    return len(changed)


# The delivery of a job that follows this many deliveries cut short (the worker died: OOM, kill -9, a crash
# in a parser) fails it instead of processing it again, so one poison file cannot loop a worker forever.
MAX_DELIVERIES = 3


def _interruption_poisons(job: IndexingJob) -> bool:
    """Count one interruption of `job`, found `processing` by whoever looks after its worker died: the
    next delivery (acks_late + reject_on_worker_lost put the message back) or the recovery sweep. The
    third delivery of a job interrupted twice fails it as poison instead; returns whether it did."""
    interruptions = job.interruptions + 1
    if interruptions < MAX_DELIVERIES - 1:
        _job_update(job, interruptions=interruptions)
        return False
    _job_update(
        job,
        interruptions=interruptions,
        status=Status.FAILED,
        error_code="poison",
        error=f"The worker stopped {interruptions} times while processing this; not retried. "
        "Check the file with `manage.py extract`, then re-index it.",
        finished_at=timezone.now(),
    )
    logger.error("indexing job %s failed as poison after %s interruptions", job.pk, interruptions)
    return True


def jobs_recover(*, started_before: Any = None) -> dict[str, int]:
    """Jobs and imports a dead worker left `processing` go back to the queue, or fail as poison.

    `make run` calls this before it starts its worker (nothing else can be processing then); Celery beat's
    sweeper calls it with `started_before` = now - the task time limit, past which no live worker can
    still be on the job."""
    jobs = IndexingJob.objects.filter(status=Status.PROCESSING)
    runs = ImportRun.objects.filter(status__in=[ImportRun.Status.QUEUED, ImportRun.Status.RUNNING])
    if started_before is not None:
        jobs = jobs.filter(started_at__lt=started_before)
        runs = runs.filter(created_at__lt=started_before)
    counts = {"requeued": 0, "poisoned": 0, "imports": 0}
    for job in jobs:
        if _interruption_poisons(job):
            counts["poisoned"] += 1
            continue
        _job_update(job, status=Status.QUEUED, error="Re-queued: the worker stopped while processing it.")
        indexing_job_send(job)
        counts["requeued"] += 1
    for run in runs:
        import_run_send(run)
        counts["imports"] += 1
    return counts
