"""Chunks as rows of `search.models.IndexedChunk`, and the visibility rule as a SQL WHERE."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import numpy as np
from django.db.models import Q
from django.utils import timezone

from search.models import IndexedChunk
from search.values import Chunk, Principal, Visibility
from search.visibility import grants_for

# Chunk fields whose column has another name; every other field is a column of the same name.
_COLUMN = {"text": "body"}
# Columns derived from the chunk for searching and filtering (not Chunk fields).
_DERIVED = ["source_key", "headings", "group_keys", "updated_at"]
CHUNK_FIELDS = [
    _COLUMN.get(f.name, f.name) for f in fields(Chunk) if f.name != "chunk_id"
] + _DERIVED  # what an upsert rewrites (chunk_id is the conflict key)
VECTOR_FIELDS = ["vector", "dimensions"]


def visibility_q(principal: Principal) -> Q:
    """`grants_for(principal)` as a WHERE: any one clause admits a row (search.visibility)."""
    grants = grants_for(principal)
    # .value: database drivers may adapt an Enum member by its name rather than its value.
    q = Q(visibility__in=sorted(v.value for v in grants.visibilities))
    if grants.any_group:
        # group_keys is "" for a restriction to no group at all (a password): it stays hidden.
        q |= Q(visibility=Visibility.GROUPS.value) & ~Q(group_keys="")
    else:
        for group_id in sorted(grants.group_ids):
            q |= Q(visibility=Visibility.GROUPS.value, group_keys__contains=f"|{group_id}|")
    if grants.owner_id is not None:
        q |= Q(visibility=Visibility.OWNER.value, owner_id=grants.owner_id)
    return q


def chunk_row(chunk: Chunk, *, index_name: str, vector: Sequence[float] | None) -> IndexedChunk:
    values: dict[str, Any] = {_COLUMN.get(f.name, f.name): getattr(chunk, f.name) for f in fields(Chunk)}
    values.update(
        heading_path=list(chunk.heading_path),
        visibility=str(chunk.visibility),
        group_ids=list(chunk.group_ids),
        source_key=chunk.source_key,
        headings=chunk.section,
        group_keys="".join(f"|{g}|" for g in chunk.group_ids),
        updated_at=timezone.now(),
    )
    row = IndexedChunk(index_name=index_name, **values)
    if vector is not None:
        row.vector = np.asarray(vector, dtype="<f4").tobytes()
        row.dimensions = len(vector)
    return row


def row_chunk(row: IndexedChunk) -> Chunk:
    values = {f.name: getattr(row, _COLUMN.get(f.name, f.name)) for f in fields(Chunk)}
    values.update(
        heading_path=tuple(row.heading_path or ()),
        group_ids=tuple(row.group_ids or ()),
        visibility=Visibility(row.visibility),
    )
    return Chunk(**values)
