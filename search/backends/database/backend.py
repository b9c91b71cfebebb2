"""The database search backend's class: rows under a concrete index name behind an `IndexAlias` pointer,
full text by vendor (postgres.py / sqlite.py), vectors by exact cosine (vectors.py)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import numpy as np
from django.db import DatabaseError, connections, transaction
from django.db.models import F, QuerySet

from search.backends.base import BaseSearchBackend, ChunkState, IndexItem, ScoredChunk, batched
from search.errors import IndexMismatch, InvalidQuery, SearchUnavailable
from search.models import IndexAlias, IndexedChunk
from search.values import Chunk, Principal

from .fulltext import FullText, Scored, query_terms
from .postgres import PostgresFullText
from .rows import CHUNK_FIELDS, VECTOR_FIELDS, chunk_row, row_chunk, visibility_q
from .sqlite import SqliteFullText
from .vectors import Ids, Matrix, cosine_top, matrices

# 500 rows x ~25 columns = ~12,500 bind parameters per INSERT: under SQLite's 32,766 and PostgreSQL's
# 65,535, and ~2 MB of 384-dim vectors per statement. benchmarks/search_backends.py saw no gain above 250.
BATCH_SIZE = 500


class DatabaseSearchBackend(BaseSearchBackend):
    settings_keys = frozenset({"INDEX", "DATABASE"})
    option_keys = frozenset({"text_search_config", "batch_size"})

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.using: str = params.get("DATABASE", "default")
        self.text_config: str = self.options.get("text_search_config", "english")
        self.batch_size = int(self.options.get("batch_size", BATCH_SIZE))

    @cached_property
    def full_text(self) -> FullText:
        """The full-text implementation of this database's vendor (postgres.py, sqlite.py)."""
        vendor = self.vendor
        if vendor == "postgresql":
            return PostgresFullText(self.using, config=self.text_config)
        if vendor == "sqlite":
            return SqliteFullText(self.using)
        raise InvalidQuery(f"Full-text search is not implemented for the {vendor} database.")

    @property
    def vendor(self) -> str:
        return connections[self.using].vendor

    def _rows(self) -> QuerySet[IndexedChunk]:
        return IndexedChunk.objects.using(self.using)

    def _pointer(self) -> IndexAlias | None:
        return IndexAlias.objects.using(self.using).filter(name=self.index_name).first()

    def _new_target(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        return f"{self.index_name}@{stamp}-{uuid.uuid4().hex[:6]}"

    def _mismatch(self, detail: str) -> IndexMismatch:
        return IndexMismatch(
            f"{detail}. The index {self.index_name!r} was built for other vector dimensions: rebuild it "
            "with `manage.py reindex --all --rebuild`.",
            extra={"index": self.index_name},
        )

    def _bump(self, pointer: IndexAlias) -> None:
        IndexAlias.objects.using(self.using).filter(pk=pointer.pk).update(version=F("version") + 1)
        matrices.forget((self.using, self.index_name))

    # --- writing ---------------------------------------------------------------------------------
    def _write_batch(self, target: str, batch: Sequence[IndexItem], *, dimensions: int) -> None:
        full = [item for item in batch if item.vector is not None]
        for item in full:
            if len(item.vector or ()) != dimensions:
                raise self._mismatch(
                    f"Chunk {item.chunk.chunk_id} has a {len(item.vector or ())}-dimensional vector, "
                    f"expected {dimensions}"
                )
        if full:
            self._rows().bulk_create(
                [chunk_row(i.chunk, index_name=target, vector=i.vector) for i in full],
                update_conflicts=True,
                unique_fields=["index_name", "chunk_id"],
                update_fields=CHUNK_FIELDS + VECTOR_FIELDS,
            )
        metadata = {item.chunk.chunk_id: item.chunk for item in batch if item.vector is None}
        if metadata:
            existing = {
                chunk_id: pk
                for chunk_id, pk in self._rows()
                .filter(index_name=target, chunk_id__in=list(metadata))
                .values_list("chunk_id", "pk")
            }
            missing = sorted(set(metadata) - set(existing))
            if missing:
                raise IndexMismatch(
                    f"Chunk {missing[0]} is not in the index, so its metadata cannot be updated without a "
                    "vector (was the index rebuilt meanwhile?). Re-index its source with vectors.",
                    extra={"chunk_ids": missing},
                )
            rows = []
            for chunk_id, chunk in metadata.items():
                row = chunk_row(chunk, index_name=target, vector=None)
                row.pk = existing[chunk_id]
                rows.append(row)
            self._rows().bulk_update(rows, CHUNK_FIELDS)
        self.full_text.rows_written(target, [item.chunk.chunk_id for item in batch])

    def stored_model(self) -> str | None:
        pointer = self._pointer()
        return pointer.model if pointer is not None else None

    def index_chunks(self, items: Sequence[IndexItem], *, dimensions: int, model: str | None = None) -> int:
        if not items:
            return 0
        self.full_text.prepare()
        with transaction.atomic(using=self.using):
            # The row lock orders this write against a concurrent rebuild's switch (PostgreSQL).
            pointer, _ = (
                IndexAlias.objects.using(self.using)
                .select_for_update()
                .get_or_create(
                    name=self.index_name,
                    defaults={"target": self._new_target(), "dimensions": dimensions, "model": model or ""},
                )
            )
            self.model_check(pointer.model, model)
            if pointer.dimensions != dimensions:
                raise self._mismatch(
                    f"Vectors have {dimensions} dimensions but the index has {pointer.dimensions}"
                )
            for batch in batched(items, self.batch_size):
                self._write_batch(pointer.target, batch, dimensions=dimensions)
            self._bump(pointer)
        return len(items)

    def delete_source(self, source_type: str, source_id: int, *, keep_chunk_ids: Collection[str] = ()) -> int:
        pointer = self._pointer()
        if pointer is None:
            return 0
        with transaction.atomic(using=self.using):
            rows = self._rows().filter(index_name=pointer.target, source_type=source_type)
            deleted, _ = rows.filter(source_id=source_id).exclude(chunk_id__in=list(keep_chunk_ids)).delete()
            if deleted:
                self._bump(pointer)
        return deleted

    def stored_hashes(self, source_type: str, source_id: int) -> dict[str, str]:
        pointer = self._pointer()
        if pointer is None:
            return {}
        rows = self._rows().filter(index_name=pointer.target, source_type=source_type, source_id=source_id)
        return dict(rows.values_list("chunk_id", "content_hash"))

    def _targets(self) -> list[str]:
        """Every concrete name of this index, including ones a crashed rebuild left behind."""
        prefix = f"{self.index_name}@"
        names = self._rows().filter(index_name__startswith=prefix).values_list("index_name", flat=True)
        return [n for n in set(names) if "@" not in n[len(prefix) :]]

    def rebuild(self, items: Iterable[IndexItem], *, dimensions: int, model: str | None = None) -> int:
        self.full_text.prepare()
        target = self._new_target()
        written = 0
        try:
            for batch in batched(items, self.batch_size):
                if any(item.vector is None for item in batch):
                    raise ValueError("rebuild needs a vector for every chunk (the new index has none yet)")
                with transaction.atomic(using=self.using):
                    self._write_batch(target, batch, dimensions=dimensions)
                written += len(batch)
        except BaseException:
            self._rows().filter(index_name=target).delete()
            raise
        with transaction.atomic(using=self.using):
            pointer, created = (
                IndexAlias.objects.using(self.using)
                .select_for_update()
                .get_or_create(
                    name=self.index_name,
                    defaults={"target": target, "dimensions": dimensions, "model": model or ""},
                )
            )
            if not created:
                pointer.target, pointer.dimensions, pointer.model = target, dimensions, model or ""
                pointer.version += 1
                pointer.save(update_fields=["target", "dimensions", "model", "version", "updated_at"])
        matrices.forget((self.using, self.index_name))
        stale = [name for name in self._targets() if name != target]
        self._rows().filter(index_name__in=stale).delete()
        return written

    def drop(self) -> None:
        with transaction.atomic(using=self.using):
            IndexAlias.objects.using(self.using).filter(name=self.index_name).delete()
            self._rows().filter(index_name__in=self._targets()).delete()
        matrices.forget((self.using, self.index_name))

    # --- reading ---------------------------------------------------------------------------------
    def _visible(
        self, target: str, principal: Principal, scope: Collection[str] | None
    ) -> QuerySet[IndexedChunk]:
        rows = self._rows().filter(index_name=target).filter(visibility_q(principal))
        if scope is not None:
            rows = rows.filter(source_key__in=sorted(scope))
        return rows

    def _chunks_by_pk(self, scored: Sequence[Scored]) -> list[ScoredChunk]:
        rows = self._rows().defer("vector", "search_vector").in_bulk([pk for pk, _ in scored])
        return [ScoredChunk(chunk=row_chunk(rows[pk]), score=score) for pk, score in scored if pk in rows]

    def search_text(
        self, query: str, *, principal: Principal, k: int, scope: Collection[str] | None = None
    ) -> list[ScoredChunk]:
        """Full text; a query without any word (empty, only punctuation) or an empty scope returns []."""
        terms = query_terms(query)
        pointer = self._pointer()
        if not terms or k <= 0 or pointer is None or (scope is not None and not scope):
            return []
        visible = self._visible(pointer.target, principal, scope)
        return self._chunks_by_pk(self.full_text.rank(visible, terms, k))

    def _visible_pks(self, visible: QuerySet[IndexedChunk]) -> Ids:
        # The ORM's row-by-row iteration cost 3x the query itself for thousands of ids (45 vs 13 ms at
        # 5,000 chunks); the same compiled WHERE through a plain cursor.
        sql, params = visible.values("pk").query.get_compiler(using=self.using).as_sql()
        with connections[self.using].cursor() as cursor:
            cursor.execute(sql, params)
            return np.fromiter((row[0] for row in cursor.fetchall()), dtype=np.int64)

    def _matrix(self, pointer: IndexAlias) -> tuple[Ids, Matrix]:
        key = (self.using, self.index_name)
        cached = matrices.get(key, pointer.target, pointer.version)
        if cached is not None:
            return cached
        rows = self._rows().filter(index_name=pointer.target).order_by("pk")
        pairs = list(rows.values_list("pk", "vector"))
        ids = np.fromiter((pk for pk, _ in pairs), dtype=np.int64)
        matrix = np.zeros((len(ids), pointer.dimensions), dtype=np.float32)
        for i, (_, blob) in enumerate(pairs):
            matrix[i] = np.frombuffer(blob, dtype="<f4")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix /= np.where(norms == 0, 1, norms)
        matrices.put(key, pointer.target, pointer.version, ids, matrix)
        return ids, matrix

    def search_vector(
        self,
        vector: Sequence[float],
        *,
        principal: Principal,
        k: int,
        scope: Collection[str] | None = None,
        model: str | None = None,
    ) -> list[ScoredChunk]:
        """Exact cosine; score = (1 + cosine) / 2 like Elasticsearch's. No index yet: []."""
        pointer = self._pointer()
        if k <= 0 or pointer is None or (scope is not None and not scope):
            return []
        self.model_check(pointer.model, model)
        if len(vector) != pointer.dimensions:
            raise self._mismatch(
                f"The query vector has {len(vector)} dimensions but the index has {pointer.dimensions}"
            )
        query = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(query))
        if norm == 0:
            raise InvalidQuery("A zero vector has no direction to compare by cosine.")
        candidates = self._visible_pks(self._visible(pointer.target, principal, scope))
        ids, matrix = self._matrix(pointer)
        top = cosine_top(query / norm, ids=ids, matrix=matrix, candidates=candidates, k=k)
        return self._chunks_by_pk(top)

    def get_chunks(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        pointer = self._pointer()
        if pointer is None or not chunk_ids:
            return []
        rows = (
            self._rows()
            .filter(index_name=pointer.target, chunk_id__in=list(chunk_ids))
            .defer("vector", "search_vector")
        )
        found = {row.chunk_id: row_chunk(row) for row in rows}
        return [found[i] for i in chunk_ids if i in found]

    def chunk_states(self) -> Iterator[ChunkState]:
        pointer = self._pointer()
        if pointer is None:
            return
        fields = ("source_type", "source_id", "chunk_id", "revision", "visibility", "group_ids", "owner_id")
        rows = self._rows().filter(index_name=pointer.target).order_by("pk").values_list(*fields)
        for row in rows.iterator(2000):
            values = dict(zip(fields, row, strict=True))
            values["group_ids"] = tuple(values["group_ids"] or ())
            yield ChunkState(**values)

    def count(self) -> int:
        pointer = self._pointer()
        return 0 if pointer is None else self._rows().filter(index_name=pointer.target).count()

    def health(self, *, timeout: float | None = None) -> str:
        try:
            with connections[self.using].cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except DatabaseError as e:
            raise SearchUnavailable(f"The {self.using!r} database is unreachable: {e}") from e
        return f"database ({self.vendor})"
