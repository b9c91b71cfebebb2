"""Where a user's uploaded document is in processing, for many documents in three queries: the latest
indexing job, the indexed state and the last extracted version of each."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from knowledgebase.models import DocumentVersion, IndexedSource, IndexingJob
from knowledgebase.models.indexing import SourceType


@dataclass(frozen=True, kw_only=True)
class DocumentProcessing:
    status: str = "not_queued"  # the latest job's status (IndexingJob.Status), or "not_queued"
    processed: bool = False
    total_chunks: int = 0
    processed_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def _latest(rows: Iterable[Any]) -> dict[int, Any]:
    """The first row per source_id of rows ordered newest first."""
    latest: dict[int, Any] = {}
    for row in rows:
        latest.setdefault(int(row.source_id), row)
    return latest


def document_processing(document_ids: Iterable[int]) -> dict[int, DocumentProcessing]:
    ids = sorted(set(document_ids))
    where = {"source_type": SourceType.DOCUMENT, "source_id__in": ids}
    jobs = _latest(IndexingJob.objects.filter(**where).order_by("source_id", "-created_at", "-pk"))
    versions = _latest(DocumentVersion.objects.filter(**where).order_by("source_id", "-created_at", "-pk"))
    indexed = {int(row.source_id): row for row in IndexedSource.objects.filter(**where)}
    states = {}
    for document_id in ids:
        job, version, index = jobs.get(document_id), versions.get(document_id), indexed.get(document_id)
        status = job.status if job else "not_queued"
        # Processed: indexed, and no newer job is still at work on it or failed since.
        processed = index is not None and (job is None or job.status == IndexingJob.Status.INDEXED)
        states[document_id] = DocumentProcessing(
            status=status,
            processed=processed,
            total_chunks=index.chunk_count if index else 0,
            processed_at=index.indexed_at if index else None,
            metadata={
                "status": status,
                "progress_done": job.progress_done if job else 0,
                "progress_total": job.progress_total if job else 0,
                "error": job.error if job else "",
                "error_code": job.error_code if job else "",
                "embedded_chunks": version.embedded_count if version else 0,
                "extraction": dict(version.stats) if version and isinstance(version.stats, dict) else {},
            },
        )
    return states
