"""search.filters without a database: parsing, and how filters become the scope a search runs in."""

from __future__ import annotations

from datetime import date

import pytest

from search import filters as filters_module
from search.errors import InvalidQuery
from search.filters import SearchFilters, filters_scope


def test_filters_read_back_what_they_write():
    given = {
        "section": "/docs/editors/",
        "content_type": "file",
        "collection": "Manuals",
        "tags": ["hr", "hr", " "],
        "updated_after": "2026-01-31",
        "updated_before": "2026-12-31T10:00:00",
    }
    parsed = SearchFilters.from_dict(given)
    assert parsed.tags == ("hr",) and parsed.updated_before == date(2026, 12, 31)
    assert SearchFilters.from_dict(parsed.as_dict()) == parsed
    assert SearchFilters.from_dict(None).empty and SearchFilters.from_dict({"section": ""}).empty


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"colour": "red"}, "Unknown filter 'colour'"),
        ({"content_type": "video"}, "'content_type': expected one of page, file"),
        ({"section": ["a"]}, "'section': expected a string"),
        ({"updated_after": "soon"}, "'updated_after': expected a date"),
        ({"tags": [1]}, "'tags': expected a list"),
    ],
)
def test_bad_filters_are_refused_by_name(given, named):
    with pytest.raises(InvalidQuery, match=named) as raised:
        SearchFilters.from_dict(given)
    assert raised.value.code == "invalid_filters"


def test_filters_narrow_the_scope_and_an_empty_match_stays_empty(monkeypatch):
    monkeypatch.setattr(filters_module, "_resolver", lambda f: {"page:1", "page:2"})
    section = SearchFilters(section="page:9")
    assert filters_scope(None, {"page:3"}) == {"page:3"}  # no filters: the scope as given
    assert filters_scope(SearchFilters(), None) is None
    assert filters_scope(section, None) == {"page:1", "page:2"}
    assert filters_scope(section, ["page:2", "page:3"]) == {"page:2"}
    # Nothing matched: an empty scope (the engines return nothing), never None (everything).
    monkeypatch.setattr(filters_module, "_resolver", lambda f: set())
    assert filters_scope(section, None) == set()
    monkeypatch.setattr(filters_module, "MAX_FILTER_SOURCES", 1)
    monkeypatch.setattr(filters_module, "_resolver", lambda f: {"page:1", "page:2"})
    with pytest.raises(InvalidQuery, match="match 2 sources"):
        filters_scope(section, None)
