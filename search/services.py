"""Writes to the knowledge index: embed what changed, then hand the chunks to the search backend."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings

from search.backends import get_search_backend
from search.backends.base import IndexItem, batched
from search.embedders import get_embedder
from search.embedders.base import BaseEmbedder
from search.values import Chunk, embedding_text, source_key, text_hash

logger = logging.getLogger(__name__)

# Chunks embedded and written per round: 256 passages are ~20 s of MiniLM on 2 cores and ~400 KB of
# vectors, so progress is saved often and memory stays flat however large the source.
INDEX_BATCH_SIZE = 256
# MiniLM embeds 32 passages per ONNX call with little padding waste; progress is saved between calls.
EMBED_BATCH_SIZE = 32


def header_tokens(chunk: Chunk, *, embedder: BaseEmbedder) -> int:
    """Tokens the "title › headings" line of `embedding_text` takes from the embedder's window (the title
    line measured: +0.01 nDCG@10 on dbpedia-entity, see RETRIEVAL-HISTORY.md)."""
    header = chunk.location
    return max(0, embedder.count_tokens(header) - 2) + 1 if header else 0


def _with_hash(chunk: Chunk) -> Chunk:
    return chunk if chunk.content_hash else replace(chunk, content_hash=text_hash(embedding_text(chunk)))


def index_embedder() -> BaseEmbedder:
    """The embedder of the index: KNOWLEDGE_EMBEDDER names it for indexing and for queries alike, so the
    vectors written and the vectors searched always come from the same model."""
    return get_embedder(str(getattr(settings, "KNOWLEDGE_EMBEDDER", "default")))


def index_items(
    chunks: Sequence[Chunk], *, embedder: BaseEmbedder, unchanged: Collection[str] = ()
) -> list[IndexItem]:
    """IndexItems for `chunks`; those whose chunk_id is in `unchanged` keep their stored vector."""
    to_embed = [c for c in chunks if c.chunk_id not in unchanged]
    vectors: Any = embedder.embed_documents([embedding_text(c) for c in to_embed]) if to_embed else []
    by_id = {c.chunk_id: v for c, v in zip(to_embed, vectors, strict=True)}
    return [
        IndexItem(chunk=c, vector=by_id[c.chunk_id].tolist() if c.chunk_id in by_id else None) for c in chunks
    ]


@dataclass(frozen=True, kw_only=True)
class WriteReport:
    written: int
    embedded: int


Guard = Callable[[], AbstractContextManager[object]]
Progress = Callable[[int, int], object]


def chunks_index(
    chunks: Iterable[Chunk],
    *,
    backend_alias: str = "default",
    embedder_alias: str | None = None,
    reembed: bool = False,
    guard: Guard = nullcontext,
    progress: Progress | None = None,
) -> int:
    """Upsert chunks. A chunk whose content hash matches the stored one is not embedded again (its
    metadata, e.g. visibility, is still updated). Returns how many chunks were written."""
    return chunks_write(
        list(chunks),
        backend_alias=backend_alias,
        embedder_alias=embedder_alias,
        reembed=reembed,
        guard=guard,
        progress=progress,
    ).written


def chunks_write(
    chunks: Sequence[Chunk],
    *,
    backend_alias: str = "default",
    embedder_alias: str | None = None,
    reembed: bool = False,
    guard: Guard = nullcontext,
    progress: Progress | None = None,
) -> WriteReport:
    """The one path that writes chunks to the index.

    Embedding runs outside any lock; each batch is then written inside `guard()`, a short critical
    section the caller supplies (knowledgebase opens a transaction that locks the source's row and raises
    if a newer revision was indexed meanwhile). So no database lock is held while a model runs, and an
    older revision can never overwrite a newer one half-way through. `progress(done, total)` counts the
    chunks embedded."""
    backend = get_search_backend(backend_alias)
    embedder = index_embedder() if embedder_alias is None else get_embedder(embedder_alias)
    chunks = [_with_hash(c) for c in chunks]
    stored: dict[str, dict[str, str]] = {}
    if not reembed:
        for key in {c.source_key: (c.source_type, c.source_id) for c in chunks}.values():
            stored[source_key(*key)] = backend.stored_hashes(*key)
    unchanged = {c.chunk_id for c in chunks if stored.get(c.source_key, {}).get(c.chunk_id) == c.content_hash}
    total = len(chunks) - len(unchanged)
    if progress:
        progress(0, total)
    written = embedded = 0
    for batch in batched(chunks, INDEX_BATCH_SIZE):
        items: list[IndexItem] = []
        # Embedded in slices, so a batch of 256 shows its progress while it runs; slices of similar
        # length, since the embedder pads a slice to its longest passage (a page's short last passage
        # among full ones cost a full one): 8-18 % less CPU on a 256-passage batch of a 117-page PDF.
        by_length = sorted(batch, key=lambda chunk: len(embedding_text(chunk)))
        for part in batched(by_length, EMBED_BATCH_SIZE):
            part_items = index_items(part, embedder=embedder, unchanged=unchanged)
            items.extend(part_items)
            embedded += sum(1 for item in part_items if item.vector is not None)
            if progress:
                progress(embedded, total)
        with guard():
            written += backend.index_chunks(items, dimensions=embedder.dimensions, model=embedder.identity)
    return WriteReport(written=written, embedded=embedded)


def source_sync(
    source_type: str,
    source_id: int,
    chunks: Sequence[Chunk],
    *,
    backend_alias: str = "default",
    embedder_alias: str | None = None,
    guard: Guard = nullcontext,
    progress: Progress | None = None,
) -> WriteReport:
    """Make the index hold exactly `chunks` for one source: upsert them, then remove its other chunks
    (inside `guard()` too)."""
    report = chunks_write(
        chunks, backend_alias=backend_alias, embedder_alias=embedder_alias, guard=guard, progress=progress
    )
    with guard():
        source_delete(
            source_type, source_id, keep_chunk_ids={c.chunk_id for c in chunks}, backend_alias=backend_alias
        )
    return report


def source_delete(
    source_type: str, source_id: int, *, keep_chunk_ids: Collection[str] = (), backend_alias: str = "default"
) -> int:
    """Remove a source's chunks (except `keep_chunk_ids`). Returns how many were removed."""
    return get_search_backend(backend_alias).delete_source(
        source_type, source_id, keep_chunk_ids=keep_chunk_ids
    )


def index_rebuild(
    sources: Iterable[Sequence[Chunk]], *, backend_alias: str = "default", progress: Progress | None = None
) -> int:
    """Write every source's chunks, embedded afresh, into a new index recording the embedder, and switch
    the alias to it atomically, so search never goes dark. Returns the chunks written."""
    embedder = index_embedder()

    def items() -> Iterator[IndexItem]:
        for chunks in sources:
            for batch in batched(chunks, EMBED_BATCH_SIZE):
                yield from index_items(batch, embedder=embedder)

    backend = get_search_backend(backend_alias)
    return backend.rebuild(items(), dimensions=embedder.dimensions, model=embedder.identity)
