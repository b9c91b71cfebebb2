"""Chunks, index items and principals for search tests: small, hand-made, deterministic."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from search.backends.base import IndexItem
from search.values import Chunk, Principal, Visibility, text_hash


def make_chunk(
    source_id: int = 1, position: int = 0, *, source_type: str = "page", **fields: object
) -> Chunk:
    """A chunk with every field set to something non-default, so round trips check them all."""
    text = str(fields.pop("text", f"Passage {position} of {source_type} {source_id} about knowledge."))
    values: dict[str, object] = {
        "source_type": source_type,
        "source_id": source_id,
        "chunk_id": f"{source_type}:{source_id}:{position}",
        "text": text,
        "title": f"Source {source_id}",
        "heading_path": ("Guide", f"Part {position}"),
        "anchor": f"part-{position}",
        "page_number": position + 1,
        "url": f"/{source_type}/{source_id}/#part-{position}",
        "language": "en",
        "content_hash": text_hash(text),
        "revision": 100 + source_id,
        "visibility": Visibility.PUBLIC,
        "group_ids": (),
        "owner_id": None,
        "context": f"Wider context around passage {position}.",
        "position": position,
        "source_path": f"docs/{source_type}-{source_id}.md",
    }
    values.update(fields)
    return Chunk(**values)  # type: ignore[arg-type]


def make_item(chunk: Chunk, vector: Sequence[float] | None) -> IndexItem:
    return IndexItem(chunk=chunk, vector=None if vector is None else list(vector))


def throwaway_index_name() -> str:
    """Lower case (Elasticsearch index and alias names must be), unique per test."""
    return f"test-contract-{uuid.uuid4().hex[:12]}"


ANONYMOUS = Principal.anonymous()
SIGNED_IN = Principal(user_id=9)
GROUP_MEMBER = Principal(user_id=9, group_ids=frozenset({5}))
OTHER_GROUP = Principal(user_id=9, group_ids=frozenset({6}))
OWNER = Principal(user_id=7)
OTHER_USER = Principal(user_id=8)
SUPERUSER = Principal(user_id=1, is_staff=True, is_superuser=True)
SUPERUSER_OWNER = Principal(user_id=7, is_staff=True, is_superuser=True)
