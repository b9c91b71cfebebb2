"""Filters a search may carry besides the permission filter: section (a page and its subtree), content
type (page or file), collection, tag and date (last published).

What a filter matches is decided by the database, where sections, collections, tags and dates are current
the moment an editor moves, files or retags a source (the index would need re-indexing first). The
layer that owns that content (knowledgebase) registers the resolver in its `AppConfig.ready()`; it turns
filters into the set of source keys they match, and retrieval passes that set as the scope, which every
engine compiles into its query (Elasticsearch `terms` on `source_key`, a Django `source_key__in`; the
backend contract covers both legs of every engine). A filter only ever narrows: the visibility filter is
compiled into the same query, and hits are re-checked against the database after.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from search.errors import InvalidQuery

CONTENT_TYPES = ("page", "file")
# Elasticsearch's default index.max_terms_count: a filter matching more sources than this is refused
# (narrow it) rather than split across queries.
MAX_FILTER_SOURCES = 65_536


@dataclass(frozen=True, kw_only=True)
class SearchFilters:
    section: str | None = None  # "page:12" or a page's URL ("/docs/editors/"): the page and its subtree
    content_type: str | None = None  # "page" or "file"
    collection: str | None = None  # a collection's id or name (and its sub-collections); files only
    tags: tuple[str, ...] = ()  # every one of these tags
    updated_after: date | None = None  # last published on or after this day
    updated_before: date | None = None  # last published on or before this day

    @property
    def empty(self) -> bool:
        return self == SearchFilters()

    def as_dict(self) -> dict[str, Any]:
        """The filters that are set, JSON-ready (what from_dict reads back)."""
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, date):
                data[f.name] = value.isoformat()
            elif isinstance(value, tuple) and value:
                data[f.name] = list(value)
            elif value not in (None, ()):
                data[f.name] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SearchFilters:
        """Filters from JSON-like input (API, MCP, session settings); InvalidQuery names a bad key/value."""
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            raise InvalidQuery("Filters must be an object.", code="invalid_filters")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidQuery(
                f"Unknown filter {unknown[0]!r}; the known ones are: {', '.join(sorted(known))}.",
                code="invalid_filters",
                extra={"filter": unknown[0]},
            )
        return cls(
            section=_text(data, "section"),
            content_type=_choice(data, "content_type", CONTENT_TYPES),
            collection=_text(data, "collection"),
            tags=_tags(data.get("tags")),
            updated_after=_date(data, "updated_after"),
            updated_before=_date(data, "updated_before"),
        )


def _bad(key: str, message: str) -> InvalidQuery:
    return InvalidQuery(f"Filter {key!r}: {message}", code="invalid_filters", extra={"filter": key})


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _bad(key, "expected a string.")
    return str(value).strip() or None


def _choice(data: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str | None:
    value = _text(data, key)
    if value is not None and value not in choices:
        raise _bad(key, f"expected one of {', '.join(choices)}.")
    return value


def _tags(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value):
        raise _bad("tags", "expected a list of tag names.")
    return tuple(dict.fromkeys(t.strip() for t in value if t.strip()))


def _date(data: Mapping[str, Any], key: str) -> date | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as e:
        raise _bad(key, "expected a date like 2026-01-31.") from e


FilterResolver = Callable[[SearchFilters], set[str]]
_resolver: FilterResolver | None = None


def filter_resolver_register(resolver: FilterResolver) -> None:
    """Set by the content layer (knowledgebase) in its AppConfig.ready()."""
    global _resolver
    _resolver = resolver


def filters_scope(filters: SearchFilters | None, scope: Collection[str] | None) -> Collection[str] | None:
    """The scope a search runs in: `scope` narrowed to the sources `filters` match (None: everything)."""
    if filters is None or filters.empty:
        return scope
    if _resolver is None:
        raise InvalidQuery(
            "Filters are not available: no filter resolver is registered.", code="invalid_filters"
        )
    matched = _resolver(filters)
    if len(matched) > MAX_FILTER_SOURCES:
        raise InvalidQuery(
            f"These filters match {len(matched):,} sources, more than {MAX_FILTER_SOURCES:,}; narrow them.",
            code="invalid_filters",
        )
    return matched if scope is None else matched & set(scope)
