"""The index audit: what the index holds, compared with what is live.

Every live, indexable source (pages, shared files, private uploads) is read with its current revision and
access, and every chunk in the index with the revision and access it was written with. Differences:

- missing: a live source with no chunks, though it has content (its last indexing did not fail for a
  reason of its own, such as an unreadable file, and no job for it is still waiting);
- stale: chunks of an older revision, or with another visibility, groups or owner than the source has now;
- duplicate: more chunks for a source than its last indexing wrote;
- orphan: chunks of a source that is deleted, unpublished or no longer exists.

`index_audit_fix()` queues the repairs (an index job for missing, stale and duplicate sources; a removal
for orphans), which the worker runs like any other job. The last report is kept in the cache for the admin's
Indexing jobs view and /metrics. It is the oracle of the reliability tests: after any fault, zero.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from knowledgebase.models import IndexedSource, IndexingJob, KnowledgeDocument, KnowledgePage
from knowledgebase.models.indexing import SourceType
from knowledgebase.services import indexing_job_enqueue
from knowledgebase.sources import document_access, page_access
from search.backends.base import ChunkState
from search.selectors import chunk_states
from search.values import source_key
from search.visibility import Access

CACHE_KEY = "knowledge:index-audit"
KINDS = ("missing", "stale", "duplicate", "orphan")
# A failed job is the source's own verdict (an unreadable, unsupported or duplicate file: no chunks is then
# what should be indexed), except when it gave up waiting for the engine: that source is missing.
_TRANSIENT_FAILURE = "unavailable"


@dataclass(frozen=True, kw_only=True)
class _Live:
    revision: int | None
    access: Access


@dataclass(kw_only=True)
class AuditReport:
    sources: int = 0  # live, indexable sources checked
    chunks: int = 0  # chunks in the index
    missing: list[str] = field(default_factory=list)  # source keys
    stale: dict[str, str] = field(default_factory=dict)  # source key → why
    duplicate: list[str] = field(default_factory=list)
    orphan: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # a job is queued or running: not judged yet
    seconds: float = 0.0
    at: str = ""

    @property
    def differences(self) -> int:
        return len(self.missing) + len(self.stale) + len(self.duplicate) + len(self.orphan)

    def counts(self) -> dict[str, int]:
        return {
            "missing": len(self.missing),
            "stale": len(self.stale),
            "duplicate": len(self.duplicate),
            "orphan": len(self.orphan),
        }

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "differences": self.differences, "counts": self.counts()}


def _live_sources() -> dict[str, _Live]:
    live: dict[str, _Live] = {}
    for page in KnowledgePage.objects.live().specific():
        live[source_key(SourceType.PAGE, page.pk)] = _Live(
            revision=page.live_revision_id, access=page_access(page)
        )
    for document in KnowledgeDocument.objects.filter(live=True).select_related("collection"):
        key = source_key(SourceType.DOCUMENT, document.pk)
        live[key] = _Live(revision=document.live_revision_id, access=document_access(document))
    return live


def _indexed_by_source() -> dict[str, list[ChunkState]]:
    by_source: dict[str, list[ChunkState]] = defaultdict(list)
    for state in chunk_states():
        by_source[source_key(state.source_type, state.source_id)].append(state)
    return by_source


def _why_stale(chunks: list[ChunkState], live: _Live) -> str:
    revisions = {c.revision for c in chunks}
    if revisions != {live.revision}:
        found = ", ".join(str(r) for r in sorted(revisions, key=lambda r: r or 0))
        return f"revision {found} indexed, {live.revision} is live"
    expected = (str(live.access.visibility), tuple(sorted(live.access.group_ids)), live.access.owner_id)
    for chunk in chunks:
        if (chunk.visibility, tuple(sorted(chunk.group_ids)), chunk.owner_id) != expected:
            indexed = f"{chunk.visibility} {list(chunk.group_ids)}"
            return f"access {indexed} indexed, {expected[0]} {list(expected[1])} is live"
    return ""


def index_audit() -> AuditReport:
    """Compare the index with the live sources (read-only; see the module docstring)."""
    started = time.perf_counter()
    live = _live_sources()
    indexed = _indexed_by_source()
    states = {source_key(s.source_type, s.source_id): s for s in IndexedSource.objects.all()}
    jobs: dict[str, IndexingJob] = {}
    # Only what the verdict needs, streamed: jobs accumulate over the years.
    fields = ("source_type", "source_id", "status", "error_code")
    for job in IndexingJob.objects.order_by("created_at", "pk").only(*fields).iterator(chunk_size=2000):
        jobs[source_key(job.source_type, job.source_id)] = job  # the latest one wins
    report = AuditReport(sources=len(live), chunks=sum(len(c) for c in indexed.values()))
    for key, source in live.items():
        chunks = indexed.get(key, [])
        latest = jobs.get(key)
        if latest is not None and latest.status in {IndexingJob.Status.QUEUED, IndexingJob.Status.PROCESSING}:
            report.pending.append(key)
            continue
        state = states.get(key)
        if not chunks:
            empty = state is not None and state.revision_id == source.revision and state.chunk_count == 0
            verdict = (
                latest is not None
                and latest.status == IndexingJob.Status.FAILED
                and latest.error_code != _TRANSIENT_FAILURE
            )
            if not empty and not verdict:
                report.missing.append(key)
            continue
        why = _why_stale(chunks, source)
        if why:
            report.stale[key] = why
        elif state is not None and state.revision_id == source.revision and len(chunks) > state.chunk_count:
            report.duplicate.append(key)
    report.orphan = sorted(set(indexed) - set(live))
    report.missing.sort()
    report.duplicate.sort()
    report.seconds = round(time.perf_counter() - started, 3)
    report.at = timezone.now().isoformat()
    cache.set(CACHE_KEY, report.as_dict(), timeout=None)
    return report


def index_audit_fix(report: AuditReport, *, user: Any = None) -> int:
    """Queue the repairs of `report`'s differences; returns how many jobs were queued."""
    repairs = [*report.missing, *report.stale, *report.duplicate]
    for key in repairs:
        source_type, source_id = key.split(":")
        indexing_job_enqueue(source_type, int(source_id), reason="index audit", user=user)
    for key in report.orphan:
        source_type, source_id = key.split(":")
        indexing_job_enqueue(
            source_type,
            int(source_id),
            action=IndexingJob.Action.REMOVE,
            reason="index audit: orphan",
            user=user,
        )
    return len(repairs) + len(report.orphan)


def index_audit_last() -> dict[str, Any] | None:
    """The last report (as_dict), or None when no audit has run."""
    value = cache.get(CACHE_KEY)
    return value if isinstance(value, dict) else None
