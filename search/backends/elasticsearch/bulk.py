"""Bulk writes of the Elasticsearch index, checked item by item: a bulk request answers 200 even when some
of its items failed, each with its own status. Items refused for load (429: a full write queue, 503: a
shard not ready) are sent again after a pause; any other refusal is the item's own fault (a mapping
conflict, a vector of other dimensions) and retrying it would fail the same way, so it is reported."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from search.analysis import TextAnalyzer
from search.backends.base import IndexItem
from search.errors import IndexMismatch, SearchError, SearchUnavailable

from .mapping import chunk_document
from .queries import as_floats

# The item statuses Elasticsearch uses for "not now": es_rejected_execution_exception (429) when the write
# thread pool's queue is full, unavailable_shards_exception (503) while a shard is relocating or starting.
RETRYABLE_ITEM_STATUSES = frozenset({429, 503})
# Pauses before each new attempt at the retryable items: ~3.5 s in all, longer than a write queue takes to
# drain under a burst, short enough for the task's own retry (with its backoff) to take over after that.
BULK_RETRY_DELAYS = (0.5, 1.0, 2.0)


@dataclass(frozen=True, kw_only=True)
class ItemFailure:
    item: IndexItem
    status: int
    error: dict[str, Any]

    @property
    def chunk_id(self) -> str:
        return self.item.chunk.chunk_id

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE_ITEM_STATUSES


def bulk_operations(batch: Sequence[IndexItem], *, analyzer: TextAnalyzer | None) -> list[dict[str, Any]]:
    """One action per item, in order (so the response's items line up with `batch`): `index` with the
    vector, or a partial `update` that keeps the stored vector when the item has none."""
    operations: list[dict[str, Any]] = []
    for item in batch:
        doc = chunk_document(item.chunk, analyzer=analyzer)
        if item.vector is None:
            operations += [{"update": {"_id": item.chunk.chunk_id}}, {"doc": doc}]
        else:
            doc["vector"] = as_floats(item.vector)
            operations += [{"index": {"_id": item.chunk.chunk_id}}, doc]
    return operations


def item_failures(response: Mapping[str, Any], batch: Sequence[IndexItem]) -> list[ItemFailure]:
    """The items of `batch` the bulk response says failed, with their status and error."""
    if not response["errors"]:
        return []
    failures = []
    for item, entry in zip(batch, response["items"], strict=True):
        result = next(iter(entry.values()))
        if result.get("error"):
            failures.append(
                ItemFailure(item=item, status=int(result.get("status", 0)), error=result["error"])
            )
    return failures


def refusal_error(
    failures: Sequence[ItemFailure], *, total: int, index_name: str, mismatch: Callable[[str], IndexMismatch]
) -> SearchError:
    """The error for items refused for their own sake (judged by the first), naming the chunks."""
    first = failures[0]
    chunk_ids = [f.chunk_id for f in failures]
    if first.error.get("type") == "index_not_found_exception":
        return SearchUnavailable(
            f"The index {index_name!r} was dropped while chunks were written to it; retry.",
            extra={"index": index_name},
        )
    if "dimension" in str(first.error).lower():
        # Another process rebuilt the index with other dimensions since the mapping was cached.
        return mismatch(f"Elasticsearch rejected chunk {first.chunk_id}: {first.error}")
    if first.status == 404:
        return IndexMismatch(
            f"Chunk {first.chunk_id} is not in the index, so its metadata cannot be updated without a "
            "vector (was the index rebuilt meanwhile?). Re-index its source with vectors.",
            extra={"chunk_ids": chunk_ids},
        )
    return SearchError(
        f"Elasticsearch refused {len(failures)} of {total} chunks; first ({first.chunk_id}, HTTP "
        f"{first.status}): {first.error}",
        extra={"chunk_ids": chunk_ids},
    )
