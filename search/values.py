"""Values passed between the knowledge pipeline, the search engine and the chatbot."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Visibility(StrEnum):
    """Who may retrieve a chunk. Mirrors Wagtail page privacy and document ownership."""

    PUBLIC = "public"  # anyone, including anonymous visitors
    LOGIN = "login"  # any signed-in user
    GROUPS = "groups"  # members of one of `group_ids` (a password-protected page: no group, nobody)
    OWNER = "owner"  # only `owner_id` (a user's own uploaded files)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Chunk:
    """One indexed passage of a knowledge source.

    `text` is what is embedded and matched by BM25 (it fits the embedder's window, so every token of it
    is embedded); `context` is the larger stretch of the source around it that the LLM is given.
    """

    source_type: str  # "page" | "document"
    source_id: int
    chunk_id: str  # deterministic; also the engine's document id
    text: str
    title: str
    heading_path: tuple[str, ...] = ()
    anchor: str = ""
    page_number: int | None = None
    url: str = ""
    language: str = "en"
    content_hash: str = ""
    revision: int | None = None
    visibility: Visibility = Visibility.PUBLIC
    group_ids: tuple[int, ...] = ()
    owner_id: int | None = None
    context: str = ""
    position: int = 0  # order within the source
    source_path: str = ""  # where imported content came from (e.g. a Markdown file), for evaluation

    @property
    def source_key(self) -> str:
        return source_key(self.source_type, self.source_id)

    @property
    def section(self) -> str:
        return " › ".join(self.heading_path)

    @property
    def location(self) -> str:
        """Where the chunk sits, "title › headings", as embedded, re-ranked, shown to a model and cited."""
        return " › ".join(part for part in (self.title, *self.heading_path) if part)

    def as_dict(self) -> dict[str, Any]:
        data = {f: getattr(self, f) for f in self.__dataclass_fields__}
        data["visibility"] = str(self.visibility)
        data["heading_path"] = list(self.heading_path)
        data["group_ids"] = list(self.group_ids)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Chunk:
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        values["heading_path"] = tuple(values.get("heading_path") or ())
        values["group_ids"] = tuple(values.get("group_ids") or ())
        values["visibility"] = Visibility(values.get("visibility", Visibility.PUBLIC))
        return cls(**values)


def source_key(source_type: str, source_id: int) -> str:
    return f"{source_type}:{source_id}"


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who is asking: what retrieval filters by."""

    user_id: int | None = None
    group_ids: frozenset[int] = frozenset()
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None

    @classmethod
    def anonymous(cls) -> Principal:
        return cls()

    @classmethod
    def from_user(cls, user: Any) -> Principal:
        if user is None or not getattr(user, "is_authenticated", False):
            return cls.anonymous()
        return cls(
            user_id=user.pk,
            group_ids=frozenset(user.groups.values_list("pk", flat=True)),
            is_staff=bool(user.is_staff),
            is_superuser=bool(user.is_superuser),
        )

    @property
    def fingerprint(self) -> str:
        """Stable key of what this principal may see (for caches keyed by visibility)."""
        if self.is_anonymous:
            return "anon"
        groups = ",".join(str(g) for g in sorted(self.group_ids))
        return hashlib.sha256(f"u{self.user_id}|g{groups}".encode()).hexdigest()[:16]


@dataclass(frozen=True, kw_only=True)
class Hit:
    """A retrieved chunk with its score from each leg (`bm25`, `knn`, `rerank`) and the fused result."""

    chunk: Chunk
    scores: Mapping[str, float] = field(default_factory=dict)
    ranks: Mapping[str, int] = field(default_factory=dict)
    score: float = 0.0
    rank: int = 0


def embedding_text(chunk: Chunk) -> str:
    """What is embedded for a chunk: where it sits (title › headings) and its passage. The chunker keeps
    this within the embedder's window, so every token of indexed text is embedded."""
    where = chunk.location
    return f"{where}\n{chunk.text}" if where else chunk.text
