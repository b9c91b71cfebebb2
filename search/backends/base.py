"""The contract every knowledge search backend implements (Elasticsearch, database).

Backends store chunks with their vectors and answer the two retrieval legs, each pre-filtered inside the
engine by the principal's visibility and an optional scope. Fusion, re-ranking and diversity live above
them in `search.retrieval`, so both backends return the same result shape.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

from search.errors import IndexMismatch
from search.values import Chunk, Principal

logger = logging.getLogger(__name__)

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of at most `size` items, in order (itertools.batched comes with Python 3.12; we run 3.11)."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


@dataclass(frozen=True, kw_only=True)
class ScoredChunk:
    chunk: Chunk
    score: float


@dataclass(frozen=True, kw_only=True)
class ChunkState:
    """What the index holds for one chunk besides its text: enough to audit it against the live source
    (knowledgebase's index audit)."""

    source_type: str
    source_id: int
    chunk_id: str
    revision: int | None
    visibility: str
    group_ids: tuple[int, ...]
    owner_id: int | None


@dataclass(frozen=True, kw_only=True)
class IndexItem:
    """A chunk to write. `vector=None` keeps the stored vector and updates only the metadata (the text is
    unchanged, so it is not embedded again)."""

    chunk: Chunk
    vector: Sequence[float] | None


class BaseSearchBackend(ABC):
    # True when search_text may run in another thread while the caller embeds the query and runs
    # search_vector (an HTTP engine). Database backends keep False: a Django connection is per thread,
    # and a second one would not see the caller's open transaction.
    concurrent_legs: bool = False
    # The keys of its KNOWLEDGE_SEARCH_BACKENDS entry and of OPTIONS it reads (datacollection.backends
    # refuses any other; None: OPTIONS unchecked).
    settings_keys: frozenset[str] = frozenset({"INDEX"})
    option_keys: frozenset[str] | None = None

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        self.alias = alias
        self.params = params
        self.options: dict[str, Any] = dict(params.get("OPTIONS", {}))
        self.index_name: str = params.get("INDEX", "knowledge")
        self._warned_unrecorded_model = False

    # --- the embedder the index was built with ------------------------------------------------------
    def model_check(self, recorded: str, model: str | None) -> None:
        """Refuse to mix vector spaces: `recorded` is the embedder identity the index holds ("" for an
        index created before identities were recorded), `model` the caller's (None: not checked, e.g.
        throwaway evaluation indices). An unrecorded index keeps working, with one warning per process."""
        if model is None or recorded == model:
            return
        if not recorded:
            if not self._warned_unrecorded_model:
                self._warned_unrecorded_model = True
                logger.warning(
                    "The index %r does not record which embedder built it, so vectors of %s are assumed to "
                    "match it; `manage.py reindex --all --rebuild` records it.",
                    self.index_name,
                    model,
                )
            return
        raise IndexMismatch(
            f"The index {self.index_name!r} was built with the embedder {recorded}, but the configured "
            f"embedder (KNOWLEDGE_EMBEDDER) is {model}: their vectors cannot be compared. Rebuild the index "
            "with `manage.py reindex --all --rebuild`, or configure the embedder it was built with.",
            extra={"index": self.index_name, "index_model": recorded, "model": model},
        )

    @abstractmethod
    def stored_model(self) -> str | None:
        """The embedder identity recorded when the index was created (`BaseEmbedder.identity`); "" when
        the index predates the record, None when there is no index yet."""

    # --- writing ---------------------------------------------------------------------------------
    @abstractmethod
    def index_chunks(self, items: Sequence[IndexItem], *, dimensions: int, model: str | None = None) -> int:
        """Upsert chunks (deterministic ids = chunk_id); creates the index on first use, recording `model`
        (the embedder identity of the vectors). Raises IndexMismatch when the index records another
        embedder or other dimensions. Returns count."""

    @abstractmethod
    def delete_source(self, source_type: str, source_id: int, *, keep_chunk_ids: Collection[str] = ()) -> int:
        """Remove a source's chunks except `keep_chunk_ids`. Returns how many were removed."""

    @abstractmethod
    def stored_hashes(self, source_type: str, source_id: int) -> dict[str, str]:
        """chunk_id → content_hash of what is indexed for a source (to skip re-embedding)."""

    @abstractmethod
    def rebuild(self, items: Iterable[IndexItem], *, dimensions: int, model: str | None = None) -> int:
        """Write everything into a new index recording `model`, then switch to it atomically (search never
        goes dark)."""

    @abstractmethod
    def drop(self) -> None:
        """Delete the index and everything in it (throwaway evaluation indices, tests)."""

    # --- reading ---------------------------------------------------------------------------------
    @abstractmethod
    def search_text(
        self, query: str, *, principal: Principal, k: int, scope: Collection[str] | None = None
    ) -> list[ScoredChunk]:
        """BM25 over title, headings and body, filtered by visibility and scope (source keys)."""

    @abstractmethod
    def search_vector(
        self,
        vector: Sequence[float],
        *,
        principal: Principal,
        k: int,
        scope: Collection[str] | None = None,
        model: str | None = None,
    ) -> list[ScoredChunk]:
        """Nearest neighbours by cosine, filtered inside the engine the same way. Raises IndexMismatch when
        the index records another embedder than `model` (the query vector's) or other dimensions."""

    @abstractmethod
    def get_chunks(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        """Chunks by id, in the order given (missing ids are left out)."""

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def chunk_states(self) -> Iterator[ChunkState]:
        """Every chunk in the index (any visibility), as ChunkState, in pages; nothing when no index."""

    @abstractmethod
    def health(self, *, timeout: float | None = None) -> str:
        """A short description when healthy; raises SearchUnavailable otherwise. An engine reached over
        the network answers within `timeout` seconds (its configured TIMEOUT when None)."""
