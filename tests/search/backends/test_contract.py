"""One contract for every knowledge search backend, run against Elasticsearch, the database backend on
PostgreSQL and the database backend on SQLite (FTS5).

Each test gets a throwaway index (unique name) that is dropped afterwards. Vectors are tiny hand-made
4-dimensional ones, so no model is needed. Decisions the contract pins down:
- an empty, blank or punctuation-only text query returns [] (nothing to match is not an error);
- an empty scope returns [] and `scope=None` means everything visible;
- vector scores are (1 + cosine) / 2 on every backend; text scores grow with relevance but are not
  comparable between backends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from importlib import import_module
from typing import Any, ClassVar

import pytest
from django.db import connections

from search.backends.base import BaseSearchBackend
from search.errors import IndexMismatch
from search.models import IndexAlias, IndexedChunk
from search.values import Chunk, Principal, Visibility
from search.visibility import Access, access_allows
from tests.factories import (
    ANONYMOUS,
    GROUP_MEMBER,
    OTHER_GROUP,
    OTHER_USER,
    OWNER,
    SIGNED_IN,
    SUPERUSER,
    SUPERUSER_OWNER,
    make_chunk,
    make_item,
    throwaway_index_name,
)

A = make_chunk(1, 0, text="The aardvark sleeps in burrows and keeps its knowledge.")
B = make_chunk(
    1, 1, text="Editors publish pages through moderation workflows: knowledge.", visibility="login"
)
C = make_chunk(
    2, 0, text="Quarterly budget figures of the finance knowledge.", visibility="groups", group_ids=(5,)
)
D = make_chunk(
    3, 0, source_type="document", text="Private knowledge about zeppelins.", visibility="owner", owner_id=7
)
E = make_chunk(
    4, 0, text="Product roadmap knowledge of the platform.", visibility="groups", group_ids=(6, 11)
)
# A password-protected page: restricted to groups, but to none of them.
F = make_chunk(5, 0, text="Password protected knowledge.", visibility="groups", group_ids=())
CORPUS = [
    (A, [1.0, 0.0, 0.0, 0.0]),
    (B, [0.0, 1.0, 0.0, 0.0]),
    (C, [0.0, 0.0, 1.0, 0.0]),
    (D, [0.0, 0.0, 0.0, 1.0]),
    (E, [0.6, 0.8, 0.0, 0.0]),
    (F, [0.5, 0.5, 0.5, 0.5]),
]
ALL = {c.chunk_id for c, _ in CORPUS}
VISIBLE = {
    "anonymous": (ANONYMOUS, {A.chunk_id}),
    "signed in": (SIGNED_IN, {A.chunk_id, B.chunk_id}),
    "group member": (GROUP_MEMBER, {A.chunk_id, B.chunk_id, C.chunk_id}),
    "other group": (OTHER_GROUP, {A.chunk_id, B.chunk_id, E.chunk_id}),
    "owner": (OWNER, {A.chunk_id, B.chunk_id, D.chunk_id}),
    "other user": (OTHER_USER, {A.chunk_id, B.chunk_id}),
    # Password-protected content (F) is hidden from superusers too: Wagtail asks them for the password.
    "superuser": (SUPERUSER, ALL - {D.chunk_id, F.chunk_id}),
    "superuser owning": (SUPERUSER_OWNER, ALL - {F.chunk_id}),
}
# Embedder identities (search.embedders.BaseEmbedder.identity) of two models with the same dimensions.
MODEL = "tests.embedders.first:model-one:4"
OTHER_MODEL = "tests.embedders.second:model-two:4"
# Beyond VISIBLE's named cases: several groups, a superuser in a group, the owner in a group, anyone.
MORE_PRINCIPALS = [
    *(principal for principal, _ in VISIBLE.values()),
    Principal(user_id=9, group_ids=frozenset({5, 6})),
    Principal(user_id=7, group_ids=frozenset({11})),
    Principal(user_id=2, group_ids=frozenset({5}), is_staff=True, is_superuser=True),
    Principal(user_id=9, group_ids=frozenset({99})),
    Principal(user_id=3, is_staff=True),
]


def chunk_access(chunk: Chunk) -> Access:
    return Access(visibility=chunk.visibility, group_ids=chunk.group_ids, owner_id=chunk.owner_id)


WEIRD_QUERIES = [
    '"foo" AND (bar OR',
    "title:x* NEAR(a b) ^ - + \" ' \\ { } [ ] ~ : ; !",
    "NOT OR AND NEAR",
    "café naïve 日本語 ünïcødé",
    "%_%' OR 1=1 --",
    "word " * 2000,  # 10,000 characters
]


def ids(results: list[Any]) -> list[str]:
    return [r.chunk.chunk_id for r in results]


class BackendContract:
    """The tests. A subclass sets BACKEND (and PARAMS), and may depend on fixtures through `backend`."""

    BACKEND: ClassVar[str]

    @pytest.fixture
    def backend_params(self) -> dict[str, Any]:
        # batch_size 2: every multi-chunk write in these tests spans several batches.
        return {"OPTIONS": {"batch_size": 2}}

    @pytest.fixture
    def backend(self, backend_params: dict[str, Any]) -> Iterator[BaseSearchBackend]:
        params = {"BACKEND": self.BACKEND, **backend_params, "INDEX": throwaway_index_name()}
        backend: BaseSearchBackend = import_module(self.BACKEND).SearchBackend("contract", params)
        yield backend
        backend.drop()

    @pytest.fixture
    def indexed(self, backend: BaseSearchBackend) -> BaseSearchBackend:
        assert backend.index_chunks([make_item(c, v) for c, v in CORPUS], dimensions=4) == len(CORPUS)
        return backend

    # --- round trip ------------------------------------------------------------------------------
    def test_every_field_round_trips_through_index_search_and_get(self, backend: BaseSearchBackend) -> None:
        full = make_chunk(
            8,
            3,
            text="Every field makes the journey intact.",
            heading_path=("Installation", "Troubleshooting", "Proxies"),
            visibility=Visibility.GROUPS,
            group_ids=(5, 12),
            owner_id=33,
            context="A much longer context that the LLM reads around the passage.",
            language="fr",
            revision=987654321012,
        )
        bare = make_chunk(9, 0, text="Optional values left empty.", page_number=None, revision=None)
        backend.index_chunks(
            [make_item(full, [0.1, 0.2, 0.3, 0.4]), make_item(bare, [0.4, 0.3, 0.2, 0.1])], dimensions=4
        )

        assert backend.get_chunks([full.chunk_id, bare.chunk_id]) == [full, bare]
        text_hits = backend.search_text("journey intact", principal=GROUP_MEMBER, k=5)
        assert [h.chunk for h in text_hits] == [full]
        vector_hits = backend.search_vector([0.1, 0.2, 0.3, 0.4], principal=GROUP_MEMBER, k=1)
        assert [h.chunk for h in vector_hits] == [full]
        assert backend.search_text("troubleshooting", principal=GROUP_MEMBER, k=5)[0].chunk == full

    def test_count(self, indexed: BaseSearchBackend) -> None:
        assert indexed.count() == len(CORPUS)

    def test_get_chunks_keeps_the_order_given_and_leaves_out_missing_ids(
        self, indexed: BaseSearchBackend
    ) -> None:
        chunks = indexed.get_chunks([E.chunk_id, A.chunk_id, "page:404:0", C.chunk_id])
        assert [c.chunk_id for c in chunks] == [E.chunk_id, A.chunk_id, C.chunk_id]
        assert indexed.get_chunks([]) == []

    def test_empty_index_returns_nothing(self, backend: BaseSearchBackend) -> None:
        assert backend.search_text("aardvark", principal=SUPERUSER, k=5) == []
        assert backend.search_vector([1.0, 0.0, 0.0, 0.0], principal=SUPERUSER, k=5) == []
        assert backend.get_chunks([A.chunk_id]) == []
        assert backend.count() == 0
        assert backend.stored_hashes("page", 1) == {}
        assert backend.delete_source("page", 1) == 0
        backend.drop()  # dropping what was never created is fine

    def test_writing_the_same_chunk_again_replaces_it(self, indexed: BaseSearchBackend) -> None:
        renewed = replace(A, text="The okapi lives in the rainforest.", content_hash="new")
        indexed.index_chunks([make_item(renewed, [1.0, 0.0, 0.0, 0.0])], dimensions=4)
        assert indexed.count() == len(CORPUS)
        assert ids(indexed.search_text("okapi", principal=ANONYMOUS, k=5)) == [A.chunk_id]
        assert indexed.search_text("aardvark", principal=ANONYMOUS, k=5) == []
        assert indexed.get_chunks([A.chunk_id]) == [renewed]

    # --- text leg --------------------------------------------------------------------------------
    def test_bm25_finds_the_chunk_with_the_rare_word(self, indexed: BaseSearchBackend) -> None:
        hits = indexed.search_text("Where does the aardvark sleep?", principal=ANONYMOUS, k=5)
        assert ids(hits)[0] == A.chunk_id
        assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))

    def test_title_weighs_more_than_body(self, backend: BaseSearchBackend) -> None:
        in_title = make_chunk(20, 0, title="Gardening", text="Tips for beginners in spring.")
        in_body = make_chunk(
            21, 0, title="Notes", text="People enjoy gardening, cooking, travel and reading."
        )
        backend.index_chunks(
            [make_item(in_body, [1, 0, 0, 0]), make_item(in_title, [0, 1, 0, 0])], dimensions=4
        )
        assert ids(backend.search_text("gardening", principal=ANONYMOUS, k=5)) == [
            in_title.chunk_id,
            in_body.chunk_id,
        ]

    def test_bm25_matches_other_forms_of_a_word(self, backend: BaseSearchBackend) -> None:
        # Stemming: Snowball analysis on Elasticsearch, the text search configuration on PostgreSQL, the
        # porter tokenizer on SQLite.
        stemmed = make_chunk(22, 0, title="Workflow", text="Moderators approved the submitted revisions.")
        other = make_chunk(23, 0, title="Images", text="Focal points crop renditions.")
        backend.index_chunks([make_item(stemmed, [1, 0, 0, 0]), make_item(other, [0, 1, 0, 0])], dimensions=4)
        assert ids(backend.search_text("approving a revision", principal=ANONYMOUS, k=5)) == [
            stemmed.chunk_id
        ]
        assert ids(backend.search_text("submit", principal=ANONYMOUS, k=5)) == [stemmed.chunk_id]

    def test_compatibility_forms_match_their_plain_form_and_are_stored_as_written(
        self, backend: BaseSearchBackend
    ) -> None:
        # Matching folds (NFKC + casefold, search.analysis.fold); the stored text keeps "№" and "２０２４".
        form = make_chunk(24, 0, title="Forms", text="Send Form №5 with the receipt.")
        year = make_chunk(25, 0, title="Calendar", text="Holidays of ２０２４ and the office closures.")
        other = make_chunk(26, 0, title="Images", text="Focal points crop renditions 5 times.")
        backend.index_chunks(
            [make_item(form, [1, 0, 0, 0]), make_item(year, [0, 1, 0, 0]), make_item(other, [0, 0, 1, 0])],
            dimensions=4,
        )
        assert ids(backend.search_text("Form No5", principal=ANONYMOUS, k=5))[0] == form.chunk_id
        assert ids(backend.search_text("holidays in 2024", principal=ANONYMOUS, k=5))[0] == year.chunk_id
        assert ids(backend.search_text("2024", principal=ANONYMOUS, k=5)) == [year.chunk_id]
        assert ids(backend.search_text("ＦＯＲＭ", principal=ANONYMOUS, k=5)) == [form.chunk_id]
        stored = {c.chunk_id: c.text for c in backend.get_chunks([form.chunk_id, year.chunk_id])}
        assert stored == {form.chunk_id: form.text, year.chunk_id: year.text}

    def test_context_is_returned_but_not_searched(self, indexed: BaseSearchBackend) -> None:
        assert indexed.search_text("wider", principal=SUPERUSER_OWNER, k=5) == []

    @pytest.mark.parametrize("query", ["", "   ", "!!!", "?"])
    def test_a_query_without_words_returns_nothing(self, indexed: BaseSearchBackend, query: str) -> None:
        assert indexed.search_text(query, principal=SUPERUSER_OWNER, k=5) == []

    @pytest.mark.parametrize("query", WEIRD_QUERIES, ids=range(len(WEIRD_QUERIES)))
    def test_weird_queries_do_not_crash(self, indexed: BaseSearchBackend, query: str) -> None:
        hits = indexed.search_text(query, principal=SUPERUSER_OWNER, k=5)
        assert isinstance(hits, list)
        assert {h.chunk.chunk_id for h in hits} <= ALL

    @pytest.mark.parametrize(
        "query",
        ['"aardvark" AND (bar OR', "aardvark*", "aardvark:", "-aardvark", "aardvark " + "lorem " * 1700],
    )
    def test_operators_are_read_as_words(self, indexed: BaseSearchBackend, query: str) -> None:
        assert ids(indexed.search_text(query, principal=ANONYMOUS, k=5)) == [A.chunk_id]

    # --- vector leg ------------------------------------------------------------------------------
    def test_knn_finds_the_nearest_first(self, indexed: BaseSearchBackend) -> None:
        hits = indexed.search_vector([0.95, 0.05, 0.0, 0.0], principal=SUPERUSER_OWNER, k=3)
        # F (cosine 0.53) would come third, but password-protected content is hidden from superusers too.
        assert ids(hits) == [A.chunk_id, E.chunk_id, B.chunk_id]
        # (1 + cosine) / 2 on every backend: A's cosine is 0.9986.
        assert hits[0].score == pytest.approx(0.9993, abs=0.01)
        assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))

    def test_vector_filter_applies_before_the_top_k(self, indexed: BaseSearchBackend) -> None:
        # D is the nearest but invisible: a post-filter would leave nothing of a top 1.
        assert ids(indexed.search_vector([0.0, 0.0, 0.0, 1.0], principal=ANONYMOUS, k=1)) == [A.chunk_id]

    def test_vector_of_other_dimensions_is_an_index_mismatch(self, indexed: BaseSearchBackend) -> None:
        with pytest.raises(IndexMismatch, match="reindex"):
            indexed.search_vector([1.0, 0.0, 0.0], principal=ANONYMOUS, k=3)
        with pytest.raises(IndexMismatch, match="reindex"):
            indexed.index_chunks([make_item(make_chunk(30, 0), [1.0, 0.0, 0.0])], dimensions=3)
        with pytest.raises(IndexMismatch, match="reindex"):
            indexed.index_chunks([make_item(make_chunk(30, 0), [1.0, 0.0, 0.0])], dimensions=4)
        assert indexed.count() == len(CORPUS)

    # --- filters ---------------------------------------------------------------------------------
    @pytest.mark.parametrize("who", list(VISIBLE))
    def test_visibility_matrix_on_both_legs(self, indexed: BaseSearchBackend, who: str) -> None:
        principal, expected = VISIBLE[who]
        assert set(ids(indexed.search_text("knowledge", principal=principal, k=10))) == expected
        assert set(ids(indexed.search_vector([0.5, 0.5, 0.5, 0.5], principal=principal, k=10))) == expected

    @pytest.mark.parametrize("principal", MORE_PRINCIPALS, ids=str)
    def test_engine_filter_agrees_with_the_python_rule(
        self, indexed: BaseSearchBackend, principal: Principal
    ) -> None:
        """search.visibility states the rule once: the engine's compiled filter and the Python check (the
        database re-check before citing) admit exactly the same chunks, on both legs."""
        expected = {c.chunk_id for c, _ in CORPUS if access_allows(chunk_access(c), principal)}
        assert set(ids(indexed.search_text("knowledge", principal=principal, k=10))) == expected
        assert set(ids(indexed.search_vector([0.5, 0.5, 0.5, 0.5], principal=principal, k=10))) == expected

    def test_scope_filter_on_both_legs(self, indexed: BaseSearchBackend) -> None:
        scope = {"page:1", "document:3"}
        expected = {A.chunk_id, B.chunk_id, D.chunk_id}
        assert set(ids(indexed.search_text("knowledge", principal=OWNER, k=10, scope=scope))) == expected
        assert set(ids(indexed.search_vector([0, 0, 1, 0], principal=OWNER, k=10, scope=scope))) == expected
        # The scope narrows what the principal may see; it never widens it.
        assert ids(indexed.search_text("knowledge", principal=ANONYMOUS, k=10, scope={"page:2"})) == []
        assert indexed.search_text("knowledge", principal=OWNER, k=10, scope=set()) == []
        assert indexed.search_vector([0, 0, 1, 0], principal=OWNER, k=10, scope=[]) == []

    # --- maintenance -----------------------------------------------------------------------------
    def test_metadata_only_update_keeps_the_vector(self, indexed: BaseSearchBackend) -> None:
        moved = replace(A, title="Renamed burrow guide", visibility=Visibility.LOGIN, page_number=42)
        assert indexed.index_chunks([make_item(moved, None)], dimensions=4) == 1
        assert indexed.get_chunks([A.chunk_id]) == [moved]
        hits = indexed.search_vector([1.0, 0.0, 0.0, 0.0], principal=SIGNED_IN, k=1)
        assert ids(hits) == [A.chunk_id]
        assert hits[0].score == pytest.approx(1.0, abs=0.01)
        assert ids(indexed.search_text("renamed", principal=SIGNED_IN, k=5)) == [A.chunk_id]
        assert indexed.search_text("aardvark", principal=ANONYMOUS, k=5) == []  # now login only

    def test_metadata_only_update_of_an_unknown_chunk_is_an_index_mismatch(
        self, indexed: BaseSearchBackend
    ) -> None:
        with pytest.raises(IndexMismatch):
            indexed.index_chunks([make_item(make_chunk(77, 0), None)], dimensions=4)

    def test_delete_source_keeps_the_listed_chunks(self, indexed: BaseSearchBackend) -> None:
        assert indexed.delete_source("page", 1, keep_chunk_ids={A.chunk_id}) == 1
        assert indexed.stored_hashes("page", 1) == {A.chunk_id: A.content_hash}
        assert indexed.get_chunks([B.chunk_id]) == []
        assert indexed.search_text("moderation", principal=SIGNED_IN, k=5) == []
        assert indexed.delete_source("page", 1) == 1
        assert indexed.delete_source("page", 404) == 0
        assert indexed.count() == len(CORPUS) - 2

    def test_stored_hashes_of_one_source(self, indexed: BaseSearchBackend) -> None:
        assert indexed.stored_hashes("page", 1) == {A.chunk_id: A.content_hash, B.chunk_id: B.content_hash}
        assert indexed.stored_hashes("document", 1) == {}
        assert indexed.stored_hashes("document", 3) == {D.chunk_id: D.content_hash}

    def test_rebuild_switches_to_new_content_and_old_content_disappears(
        self, indexed: BaseSearchBackend
    ) -> None:
        new = [make_chunk(40, i, text=f"Fresh content number {i} about ocelots.") for i in range(5)]

        def items() -> Iterator[Any]:
            for i, chunk in enumerate(new):
                if i == 3:  # two batches of the new index are written: the old one is still served
                    assert ids(indexed.search_text("aardvark", principal=ANONYMOUS, k=5)) == [A.chunk_id]
                    assert indexed.search_text("ocelots", principal=ANONYMOUS, k=5) == []
                yield make_item(chunk, [1.0, float(i), 0.0])

        assert indexed.rebuild(items(), dimensions=3) == 5
        assert indexed.count() == 5
        assert indexed.search_text("aardvark", principal=SUPERUSER_OWNER, k=5) == []
        assert indexed.stored_hashes("page", 1) == {}
        assert len(indexed.search_text("ocelots", principal=ANONYMOUS, k=10)) == 5
        # The rebuild is also how the vector dimensions change.
        assert ids(indexed.search_vector([1.0, 0.0, 0.0], principal=ANONYMOUS, k=1)) == [new[0].chunk_id]
        with pytest.raises(IndexMismatch):
            indexed.search_vector([1.0, 0.0, 0.0, 0.0], principal=ANONYMOUS, k=1)

    def test_failed_rebuild_leaves_the_served_index_alone(self, indexed: BaseSearchBackend) -> None:
        def items() -> Iterator[Any]:
            for i in range(4):
                yield make_item(make_chunk(50, i, text="Half-written ocelots."), [1.0, 0.0, 0.0, 0.0])
            raise RuntimeError("the source database went away")

        with pytest.raises(RuntimeError):
            indexed.rebuild(items(), dimensions=4)
        assert indexed.count() == len(CORPUS)
        assert ids(indexed.search_text("aardvark", principal=ANONYMOUS, k=5)) == [A.chunk_id]
        assert indexed.search_text("ocelots", principal=ANONYMOUS, k=5) == []

    def test_rebuild_of_a_new_index_creates_it(self, backend: BaseSearchBackend) -> None:
        assert backend.rebuild([make_item(c, v) for c, v in CORPUS], dimensions=4) == len(CORPUS)
        assert backend.count() == len(CORPUS)
        assert ids(backend.search_vector([1, 0, 0, 0], principal=ANONYMOUS, k=1)) == [A.chunk_id]

    def test_chunk_states_list_every_chunk_whatever_its_visibility(self, indexed: BaseSearchBackend) -> None:
        states = {state.chunk_id: state for state in indexed.chunk_states()}
        assert set(states) == ALL
        assert (states[C.chunk_id].visibility, states[C.chunk_id].group_ids) == ("groups", (5,))
        assert (states[D.chunk_id].source_type, states[D.chunk_id].owner_id) == ("document", 7)
        assert states[A.chunk_id].revision == A.revision
        indexed.drop()
        assert list(indexed.chunk_states()) == []

    # --- the embedder the index was built with ----------------------------------------------------
    def test_the_index_records_its_embedder_and_refuses_another(self, backend: BaseSearchBackend) -> None:
        assert backend.stored_model() is None
        backend.index_chunks([make_item(c, v) for c, v in CORPUS], dimensions=4, model=MODEL)
        assert backend.stored_model() == MODEL
        assert backend.index_chunks([make_item(A, [1, 0, 0, 0])], dimensions=4, model=MODEL) == 1
        assert ids(backend.search_vector([1, 0, 0, 0], principal=ANONYMOUS, k=1, model=MODEL)) == [A.chunk_id]
        # Same dimensions, another model: the vectors are not comparable, so both directions fail loudly.
        with pytest.raises(IndexMismatch) as query_error:
            backend.search_vector([1, 0, 0, 0], principal=ANONYMOUS, k=1, model=OTHER_MODEL)
        with pytest.raises(IndexMismatch) as write_error:
            backend.index_chunks(
                [make_item(make_chunk(30, 0), [1, 0, 0, 0])], dimensions=4, model=OTHER_MODEL
            )
        for error in (query_error.value, write_error.value):
            assert MODEL in error.message and OTHER_MODEL in error.message
            assert "manage.py reindex --all --rebuild" in error.message
            assert error.extra["index_model"] == MODEL and error.extra["model"] == OTHER_MODEL
        assert backend.count() == len(CORPUS)
        # The rebuild is how the model changes.
        assert backend.rebuild([make_item(c, v) for c, v in CORPUS], dimensions=4, model=OTHER_MODEL) == 6
        assert backend.stored_model() == OTHER_MODEL
        hits = backend.search_vector([1, 0, 0, 0], principal=ANONYMOUS, k=1, model=OTHER_MODEL)
        assert ids(hits) == [A.chunk_id]
        with pytest.raises(IndexMismatch, match="reindex"):
            backend.search_vector([1, 0, 0, 0], principal=ANONYMOUS, k=1, model=MODEL)

    def test_a_rebuild_by_another_process_is_noticed_by_the_next_write(
        self, backend: BaseSearchBackend
    ) -> None:
        backend.index_chunks([make_item(A, [1, 0, 0, 0])], dimensions=4, model=MODEL)
        assert ids(backend.search_vector([1, 0, 0, 0], principal=ANONYMOUS, k=1, model=MODEL)) == [A.chunk_id]
        other_process = import_module(self.BACKEND).SearchBackend("contract", backend.params)
        other_process.rebuild([make_item(B, [0, 1, 0, 0])], dimensions=4, model=OTHER_MODEL)
        # `backend` (a worker still configured with MODEL) must not add MODEL vectors to the new index.
        with pytest.raises(IndexMismatch, match=OTHER_MODEL):
            backend.index_chunks([make_item(C, [0, 0, 1, 0])], dimensions=4, model=MODEL)
        assert {s.chunk_id for s in backend.chunk_states()} == {B.chunk_id}

    def test_an_index_that_does_not_record_its_embedder_keeps_working(
        self, indexed: BaseSearchBackend, caplog: pytest.LogCaptureFixture
    ) -> None:
        # `indexed` was written without a model, as every index was before the embedder was recorded.
        assert indexed.stored_model() == ""
        with caplog.at_level(logging.WARNING, logger="search.backends.base"):
            for _ in range(2):
                hits = indexed.search_vector([1, 0, 0, 0], principal=ANONYMOUS, k=1, model=MODEL)
                assert ids(hits) == [A.chunk_id]
            assert indexed.index_chunks([make_item(A, [1, 0, 0, 0])], dimensions=4, model=MODEL) == 1
        warnings = [r.getMessage() for r in caplog.records if "does not record" in r.getMessage()]
        assert len(warnings) == 1, "warned once, not per call"
        assert "manage.py reindex --all --rebuild" in warnings[0]
        assert indexed.stored_model() == "", "a write does not guess the model of the vectors already there"

    def test_drop_removes_everything(self, indexed: BaseSearchBackend) -> None:
        indexed.drop()
        assert indexed.count() == 0
        assert indexed.search_text("knowledge", principal=SUPERUSER_OWNER, k=10) == []
        indexed.index_chunks([make_item(A, [1, 0, 0])], dimensions=3)  # a fresh index, any dimensions
        assert indexed.count() == 1


class TestElasticsearchBackend(BackendContract):
    BACKEND = "search.backends.elasticsearch"

    @pytest.fixture
    def backend_params(self, settings: Any) -> dict[str, Any]:
        urls = settings.KNOWLEDGE_SEARCH_BACKENDS["default"]["URLS"]
        return {"URLS": urls, "OPTIONS": {"batch_size": 2}}


@pytest.mark.django_db
class TestDatabaseBackendOnPostgres(BackendContract):
    BACKEND = "search.backends.database"

    def test_runs_on_postgresql(self) -> None:
        assert connections["default"].vendor == "postgresql"


SQLITE_ALIAS = "search_sqlite"


@pytest.fixture
def sqlite_database(db: None) -> Iterator[str]:
    """An in-memory SQLite connection next to the test database, with the search tables: the real ORM and
    FTS5 code paths, without a second test database to migrate. Added after the test case is set up, so
    Django's per-test database guard does not wrap it."""
    configured = connections.configure_settings(
        {
            "default": connections.settings["default"],
            SQLITE_ALIAS: {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        }
    )
    connections.settings[SQLITE_ALIAS] = configured[SQLITE_ALIAS]
    connection = connections[SQLITE_ALIAS]
    # Connected here: the test case's guard refuses to *open* connections to aliases it does not list.
    connection.connect()
    with connection.schema_editor() as editor:
        editor.create_model(IndexAlias)
        editor.create_model(IndexedChunk)
    yield SQLITE_ALIAS
    connection.connection.close()  # Django keeps in-memory databases open on close()
    del connections[SQLITE_ALIAS]
    del connections.settings[SQLITE_ALIAS]


class TestDatabaseBackendOnSQLite(BackendContract):
    BACKEND = "search.backends.database"

    @pytest.fixture
    def backend_params(self, sqlite_database: str) -> dict[str, Any]:
        return {"DATABASE": sqlite_database, "OPTIONS": {"batch_size": 2}}

    def test_runs_on_sqlite_with_fts5(self, indexed: BaseSearchBackend) -> None:
        assert connections[SQLITE_ALIAS].vendor == "sqlite"
        with connections[SQLITE_ALIAS].cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM search_indexedchunk_fts2 "
                "WHERE search_indexedchunk_fts2 MATCH 'aardvark'"
            )
            assert cursor.fetchone() == (1,)
