"""What only the Elasticsearch backend has: the alias over concrete indices, the mapping, server errors.

The shared behaviour is in test_backend_contract.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from search.backends import get_search_backend
from search.backends.elasticsearch import ElasticsearchSearchBackend
from search.backends.elasticsearch import backend as backend_module
from search.backends.elasticsearch.mapping import index_mapping
from search.errors import IndexMismatch, SearchError, SearchUnavailable
from tests.factories import ANONYMOUS, make_chunk, make_item, throwaway_index_name

DEAD_URL = "http://127.0.0.1:1"  # nothing listens on port 1 on loopback


def es_backend(settings: Any, *, index: str | None = None, **options: Any) -> ElasticsearchSearchBackend:
    params = {
        "URLS": settings.KNOWLEDGE_SEARCH_BACKENDS["default"]["URLS"],
        "INDEX": index or throwaway_index_name(),
        "OPTIONS": options,
    }
    return ElasticsearchSearchBackend("test", params)


@pytest.fixture
def backend(settings: Any) -> Iterator[ElasticsearchSearchBackend]:
    backend = es_backend(settings)
    yield backend
    backend.drop()


def items(n: int = 3, *, dims: int = 4) -> list[Any]:
    return [make_item(make_chunk(1, i), [1.0, float(i)] + [0.0] * (dims - 2)) for i in range(n)]


def test_settings_select_this_backend(settings: Any) -> None:
    assert isinstance(get_search_backend(), ElasticsearchSearchBackend)
    assert get_search_backend().health().startswith("elasticsearch 8.")


def test_the_alias_points_at_exactly_one_concrete_index(backend: ElasticsearchSearchBackend) -> None:
    es = backend.client
    backend.index_chunks(items(), dimensions=4)
    first = list(es.indices.get_alias(name=backend.index_name))
    assert len(first) == 1 and first[0].startswith(f"{backend.index_name}-")

    backend.rebuild(items(2), dimensions=4)
    second = list(es.indices.get_alias(name=backend.index_name))
    assert len(second) == 1 and second != first
    assert not es.indices.exists(index=first[0])  # the old index is deleted after the swap

    backend.drop()
    assert not es.indices.exists_alias(name=backend.index_name)
    assert not es.indices.exists(index=second[0])


def test_failed_rebuild_deletes_its_unfinished_index(backend: ElasticsearchSearchBackend) -> None:
    backend.index_chunks(items(), dimensions=4)
    before = set(backend.client.indices.get(index=f"{backend.index_name}-*"))

    def failing() -> Iterator[Any]:
        yield from items(3)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        backend.rebuild(failing(), dimensions=4)
    assert set(backend.client.indices.get(index=f"{backend.index_name}-*")) == before


def _segments(backend: ElasticsearchSearchBackend) -> int:
    stats = backend.client.indices.stats(index=backend.index_name, metric="segments")
    return int(stats["_all"]["primaries"]["segments"]["count"])


@pytest.fixture
def one_segment_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each bulk request of a rebuild refreshed at once, so every batch becomes a segment of its own."""
    original = ElasticsearchSearchBackend._bulk

    def bulk(self: ElasticsearchSearchBackend, index: str, batch: Any, **kwargs: Any) -> None:
        original(self, index, batch, **kwargs)
        self.client.indices.refresh(index=index)

    monkeypatch.setattr(ElasticsearchSearchBackend, "_bulk", bulk)


@pytest.mark.usefixtures("one_segment_per_batch")
def test_a_rebuilt_index_is_merged_to_one_segment_before_it_is_served(settings: Any) -> None:
    unmerged = es_backend(settings, batch_size=2, rebuild_merge_segments=0)
    merged = es_backend(settings, batch_size=2)
    try:
        unmerged.rebuild(items(8), dimensions=4)
        merged.rebuild(items(8), dimensions=4)
        assert _segments(unmerged) == 4  # the test's premise: one segment per batch of 2
        assert _segments(merged) == 1
        assert merged.count() == 8
    finally:
        unmerged.drop()
        merged.drop()


@pytest.mark.usefixtures("one_segment_per_batch")
def test_a_failed_merge_still_serves_the_complete_rebuilt_index(
    settings: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from elasticsearch import ConnectionTimeout

    backend = es_backend(settings, batch_size=2)
    try:
        backend.index_chunks(items(1), dimensions=4)
        monkeypatch.setattr(
            type(backend.client.indices),
            "forcemerge",
            lambda *a, **k: (_ for _ in ()).throw(ConnectionTimeout("timed out")),
        )
        assert backend.rebuild(items(6), dimensions=4) == 6
        assert backend.count() == 6 and _segments(backend) == 3
        assert "served unmerged" in caplog.text
        assert len(backend.client.indices.get(index=f"{backend.index_name}-*")) == 1  # the old one is gone
    finally:
        backend.drop()


def test_mapping(backend: ElasticsearchSearchBackend) -> None:
    backend.index_chunks(items(), dimensions=4)
    mapping = next(iter(backend.client.indices.get_mapping(index=backend.index_name).values()))["mappings"]
    props = mapping["properties"]
    assert props["vector"]["dims"] == 4
    assert props["vector"]["similarity"] == "cosine"
    assert props["vector"]["index_options"]["type"] == "int8_hnsw"
    assert props["context"]["index"] is False
    assert props["source_key"]["type"] == props["group_ids"]["type"] == "keyword"
    assert props["page_number"]["type"] == "integer"
    assert mapping["dynamic"] == "strict"
    assert backend.analyzer is not None
    assert mapping["_meta"] == {"text_analysis": backend.analyzer.name}  # no embedder given, none recorded
    assert {"title_stemmed", "headings_stemmed", "body_stemmed"} <= set(props)


def test_stemmed_fields_are_stored_analysed_and_never_returned(backend: ElasticsearchSearchBackend) -> None:
    chunk = make_chunk(9, 0, title="Publishing pages", text="Editors published the drafts.")
    backend.index_chunks([make_item(chunk, [1, 0, 0, 0])], dimensions=4)
    term = backend.client.search(
        index=backend.index_name, query={"term": {"body_stemmed": "publish"}}, source=False
    )
    assert [h["_id"] for h in term["hits"]["hits"]] == [chunk.chunk_id]
    assert backend.get_chunks([chunk.chunk_id]) == [chunk]
    hit = backend.search_text("publish", principal=ANONYMOUS, k=1)[0]
    assert hit.chunk == chunk


def test_a_query_of_stop_words_falls_back_to_the_plain_fields(backend: ElasticsearchSearchBackend) -> None:
    chunk = make_chunk(9, 0, title="The Who", text="A band.")
    backend.index_chunks([make_item(chunk, [1, 0, 0, 0])], dimensions=4)
    assert [h.chunk.chunk_id for h in backend.search_text("the who", principal=ANONYMOUS, k=3)] == [
        chunk.chunk_id
    ]


def test_an_index_built_without_stemming_keeps_working_until_rebuilt(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An index from before stemming (or built for another language) is searched and written on its
    plain fields, with a warning, instead of failing its strict mapping; a rebuild brings stemming."""
    index = throwaway_index_name()
    old = es_backend(settings, index=index, text_language="none")
    new = es_backend(settings, index=index)
    published = make_chunk(1, 0, text="Editors published the drafts.")
    try:
        old.index_chunks([make_item(published, [1, 0, 0, 0])], dimensions=4)
        assert new.search_text("publishing", principal=ANONYMOUS, k=3) == []  # unstemmed: no match
        assert "reindex --all" in caplog.text
        assert [h.chunk.chunk_id for h in new.search_text("published", principal=ANONYMOUS, k=3)] == [
            published.chunk_id
        ]
        later = make_chunk(2, 0, text="Moderators approved them.")
        new.index_chunks([make_item(later, [0, 1, 0, 0])], dimensions=4)  # strict mapping: no stemmed field
        assert new.count() == 2

        assert new.health().endswith("BM25 unstemmed until `manage.py reindex --all --rebuild`")

        # The rebuild runs in another process (the bulk worker); this one cached the old mapping.
        rebuilder = es_backend(settings, index=index)
        rebuilder.rebuild([make_item(published, [1, 0, 0, 0]), make_item(later, [0, 1, 0, 0])], dimensions=4)
        assert "unstemmed" not in new.health()
        written_after = make_chunk(3, 0, text="Reviewers commented on drafts.")
        new.index_chunks([make_item(written_after, [0, 0, 1, 0])], dimensions=4)
        assert [h.chunk.chunk_id for h in new.search_text("commenting", principal=ANONYMOUS, k=3)] == [
            written_after.chunk_id
        ]
        assert [h.chunk.chunk_id for h in new.search_text("publishing", principal=ANONYMOUS, k=3)] == [
            published.chunk_id
        ]
        assert [h.chunk.chunk_id for h in new.search_text("approve", principal=ANONYMOUS, k=3)] == [
            later.chunk_id
        ]
    finally:
        new.drop()


def test_searches_on_an_index_awaiting_stemming_do_not_reread_its_mapping_each_time(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = throwaway_index_name()
    old = es_backend(settings, index=index, text_language="none")
    new = es_backend(settings, index=index)
    try:
        old.index_chunks([make_item(make_chunk(1, 0, text="Editors published."), [1, 0, 0, 0])], dimensions=4)
        new.search_text("published", principal=ANONYMOUS, k=3)  # reads and caches the mapping
        indices = type(new.client.indices)
        real_get_mapping = indices.get_mapping
        reads: list[str] = []

        def counting_get_mapping(self: Any, **kwargs: Any) -> Any:
            reads.append(kwargs.get("index", ""))
            return real_get_mapping(self, **kwargs)

        monkeypatch.setattr(indices, "get_mapping", counting_get_mapping)
        for _ in range(5):
            assert new.search_text("published", principal=ANONYMOUS, k=3)
        assert reads == [], "searches reuse the cached mapping between rechecks"
        new.index_chunks([make_item(make_chunk(2, 0, text="Approved."), [0, 1, 0, 0])], dimensions=4)
        assert reads == [index], "a write checks whether another process rebuilt the index"
        monkeypatch.setattr(backend_module, "MAPPING_RECHECK_SECONDS", 0.0)
        new.search_text("published", principal=ANONYMOUS, k=3)
        assert len(reads) == 2, "once the recheck interval has passed, a search reads it again"
    finally:
        new.drop()


def test_vector_index_type_is_an_option(settings: Any) -> None:
    backend = es_backend(settings, vector_index_type="hnsw")
    try:
        backend.index_chunks(items(), dimensions=4)
        mapping = next(iter(backend.client.indices.get_mapping(index=backend.index_name).values()))
        assert mapping["mappings"]["properties"]["vector"]["index_options"]["type"] == "hnsw"
        assert [h.chunk.chunk_id for h in backend.search_vector([1, 0, 0, 0], principal=ANONYMOUS, k=1)] == [
            "page:1:0"
        ]
    finally:
        backend.drop()


def test_knn_scores_are_exact_cosine_rescored_from_the_float_vectors(settings: Any) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(60, 16)).astype(np.float32)
    query = rng.normal(size=16).astype(np.float32)
    cosine = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    expected = sorted(
        ((f"page:1:{i}", (1 + float(c)) / 2) for i, c in enumerate(cosine)), key=lambda x: -x[1]
    )
    backend = es_backend(settings)  # rescore_oversample defaults to 2
    unrescored = es_backend(settings, index=backend.index_name, rescore_oversample=0)
    try:
        backend.index_chunks([make_item(make_chunk(1, i), v) for i, v in enumerate(vectors)], dimensions=16)
        hits = backend.search_vector(query.tolist(), principal=ANONYMOUS, k=10)
        assert [(h.chunk.chunk_id, pytest.approx(h.score, abs=1e-5)) for h in hits] == expected[:10]
        # Without rescoring the engine returns int8 approximations of the same scores.
        approximate = {
            h.chunk.chunk_id: h.score
            for h in unrescored.search_vector(query.tolist(), principal=ANONYMOUS, k=10)
        }
        exact = dict(expected)
        assert max(abs(score - exact[chunk_id]) for chunk_id, score in approximate.items()) > 1e-4
    finally:
        backend.drop()


def test_rescore_oversample_below_one_is_a_configuration_error(settings: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="rescore_oversample"):
        es_backend(settings, rescore_oversample=0.5)


def test_dimension_mismatch_after_another_process_rebuilt(settings: Any) -> None:
    index = throwaway_index_name()
    writer, rebuilder = es_backend(settings, index=index), es_backend(settings, index=index)
    try:
        writer.index_chunks(items(), dimensions=4)  # caches dims 4
        rebuilder.rebuild(items(dims=3), dimensions=3)
        with pytest.raises(IndexMismatch, match="reindex --all"):
            writer.index_chunks(items(), dimensions=4)
        with pytest.raises(IndexMismatch, match="rebuild"):
            writer.search_vector([1.0, 0.0, 0.0, 0.0], principal=ANONYMOUS, k=1)
    finally:
        rebuilder.drop()


def test_a_second_writer_uses_the_existing_index(settings: Any) -> None:
    index = throwaway_index_name()
    one, two = es_backend(settings, index=index), es_backend(settings, index=index)
    try:
        one.index_chunks(items(2), dimensions=4)
        two.index_chunks([make_item(make_chunk(2, 0), [0, 1, 0, 0])], dimensions=4)
        assert one.count() == two.count() == 3
        assert len(one.client.indices.get_alias(name=index)) == 1
    finally:
        one.drop()


@pytest.mark.parametrize(
    "call",
    [
        lambda b: b.search_text("aardvark", principal=ANONYMOUS, k=3),
        lambda b: b.search_vector([1.0, 0.0, 0.0, 0.0], principal=ANONYMOUS, k=3),
        lambda b: b.index_chunks(items(), dimensions=4),
        lambda b: b.delete_source("page", 1),
        lambda b: b.get_chunks(["page:1:0"]),
        lambda b: b.count(),
        lambda b: b.health(),
    ],
    ids=["search_text", "search_vector", "index_chunks", "delete_source", "get_chunks", "count", "health"],
)
def test_server_down_is_search_unavailable_not_empty(call: Any) -> None:
    backend = ElasticsearchSearchBackend(
        "test", {"URLS": [DEAD_URL], "INDEX": "unreachable", "TIMEOUT": 1.0, "OPTIONS": {"max_retries": 0}}
    )
    with pytest.raises(SearchUnavailable, match="127.0.0.1:1") as caught:
        call(backend)
    assert caught.value.code == "search_unavailable"


def test_client_is_created_lazily(settings: Any) -> None:
    backend = es_backend(settings)
    assert "client" not in vars(backend)
    backend.count()
    assert "client" in vars(backend)


def test_a_write_racing_a_drop_does_not_auto_create_an_index(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = throwaway_index_name()
    writer, dropper = es_backend(settings, index=index), es_backend(settings, index=index)
    try:
        writer.index_chunks(items(), dimensions=4)
        checked = writer._ensure_index

        def checked_then_dropped(dimensions: int, model: str | None) -> None:
            checked(dimensions, model)
            dropper.drop()  # after the write read the mapping, before its bulk request

        monkeypatch.setattr(writer, "_ensure_index", checked_then_dropped)
        with pytest.raises(SearchUnavailable, match="dropped"):
            writer.index_chunks(items(), dimensions=4)
        assert not writer.client.indices.exists(index=index)
        monkeypatch.undo()
        writer.index_chunks(items(), dimensions=4)  # the retry creates the index again
        assert len(writer.client.indices.get_alias(name=index)) == 1
    finally:
        writer.drop()


def test_a_concrete_index_under_the_alias_name_is_replaced_by_a_rebuild(
    backend: ElasticsearchSearchBackend,
) -> None:
    es = backend.client
    es.index(index=backend.index_name, id="stray", document={"body": "auto-created"}, refresh=True)
    with pytest.raises(IndexMismatch, match="reindex"):
        backend.search_vector([1.0, 0.0, 0.0, 0.0], principal=ANONYMOUS, k=1)
    backend.rebuild(items(), dimensions=4)
    assert list(es.indices.get_alias(name=backend.index_name)) != [backend.index_name]
    assert backend.count() == 3
    assert [h.chunk.chunk_id for h in backend.search_vector([1, 0, 0, 0], principal=ANONYMOUS, k=1)] == [
        "page:1:0"
    ]


def test_drop_deletes_a_concrete_index_under_the_alias_name(backend: ElasticsearchSearchBackend) -> None:
    backend.client.index(index=backend.index_name, id="stray", document={"body": "auto-created"})
    backend.drop()
    assert not backend.client.indices.exists(index=backend.index_name)


def test_the_mapping_meta_records_the_embedder(backend: ElasticsearchSearchBackend) -> None:
    backend.index_chunks(items(), dimensions=4, model="search.embedders.minilm:all-MiniLM-L6-v2-int8:4")
    mapping = next(iter(backend.client.indices.get_mapping(index=backend.index_name).values()))
    assert mapping["mappings"]["_meta"] == {
        "text_analysis": backend.analyzer.name if backend.analyzer else None,
        "embedder": "search.embedders.minilm:all-MiniLM-L6-v2-int8:4",
    }


def test_an_index_without_any_meta_keeps_working_as_unrecorded(backend: ElasticsearchSearchBackend) -> None:
    """An index made before the mapping had `_meta` at all (neither analysis nor embedder)."""
    mapping = index_mapping(dimensions=4, vector_index_type="int8_hnsw", analyzer=None)
    assert "_meta" not in mapping
    backend.client.indices.create(
        index=f"{backend.index_name}-old", mappings=mapping, aliases={backend.index_name: {}}
    )
    assert backend.stored_model() == ""
    assert backend.index_chunks(items(), dimensions=4, model="search.embedders.minilm:m:4") == 3
    hits = backend.search_vector([1, 0, 0, 0], principal=ANONYMOUS, k=1, model="search.embedders.minilm:m:4")
    assert [h.chunk.chunk_id for h in hits] == ["page:1:0"]


# --- bulk responses checked item by item (issue 19) ------------------------------------------------------
class BusyItems:
    """A fault in front of the client's bulk call: the chunks in `busy` are left out of the first `times`
    requests and answered with their status (429: write queue full, 503: shard unavailable), as
    Elasticsearch answers items it did not write; everything else reaches the real engine."""

    def __init__(self, backend: ElasticsearchSearchBackend, busy: dict[str, int], *, times: int) -> None:
        self.real = backend.client.bulk
        self.busy, self.times = busy, times
        self.calls: list[list[str]] = []

    def __call__(self, *, operations: list[dict[str, Any]], **kwargs: Any) -> Any:
        pairs = list(zip(operations[::2], operations[1::2], strict=True))
        ids = [next(iter(action.values()))["_id"] for action, _ in pairs]
        self.calls.append(ids)
        if len(self.calls) > self.times:
            return self.real(operations=operations, **kwargs)
        sent = [op for pair, i in zip(pairs, ids, strict=True) if i not in self.busy for op in pair]
        written = iter(self.real(operations=sent, **kwargs)["items"] if sent else [])
        items = [
            {
                "index": {
                    "_id": i,
                    "status": self.busy[i],
                    "error": {"type": "es_rejected_execution_exception"},
                }
            }
            if i in self.busy
            else next(written)
            for i in ids
        ]
        return SimpleNamespace(body={"errors": True, "took": 1, "items": items})


def stored_ids(backend: ElasticsearchSearchBackend, chunk_ids: list[str]) -> list[str]:
    return [c.chunk_id for c in backend.get_chunks(chunk_ids)]


def test_bulk_items_refused_as_busy_are_sent_again_alone(
    backend: ElasticsearchSearchBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.bulk_retry_delays = (0.0, 0.0, 0.0)
    chunks = items(4)
    ids = [item.chunk.chunk_id for item in chunks]
    backend.index_chunks(chunks[:1], dimensions=4)  # the index exists: the fault sees only these writes
    fault = BusyItems(backend, {ids[1]: 429, ids[2]: 503}, times=2)
    monkeypatch.setattr(backend.client, "bulk", fault)
    assert backend.index_chunks(chunks, dimensions=4) == 4
    assert fault.calls == [ids, [ids[1], ids[2]], [ids[1], ids[2]]]
    assert stored_ids(backend, ids) == ids


def test_a_bulk_item_refused_for_its_own_sake_is_reported_not_retried(
    backend: ElasticsearchSearchBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.bulk_retry_delays = (0.0, 0.0, 0.0)
    good, busy = items(2)
    # A mapping conflict: page_number is an integer field.
    conflicting = replace(make_chunk(1, 7), page_number="seven")  # type: ignore[arg-type]
    bad = make_item(conflicting, [0.0, 0.0, 1.0, 0.0])
    ids = [good.chunk.chunk_id, busy.chunk.chunk_id, bad.chunk.chunk_id]
    backend.index_chunks([good], dimensions=4)
    fault = BusyItems(backend, {busy.chunk.chunk_id: 429}, times=1)
    monkeypatch.setattr(backend.client, "bulk", fault)
    refused = rf"refused 1 of 3 chunks; first \({bad.chunk.chunk_id}, HTTP 400\)"
    with pytest.raises(SearchError, match=refused) as e:
        backend.index_chunks([good, busy, bad], dimensions=4)
    assert not isinstance(e.value, SearchUnavailable), "permanent: the task must not retry it forever"
    assert e.value.extra["chunk_ids"] == [bad.chunk.chunk_id]
    assert fault.calls == [ids, [busy.chunk.chunk_id]], "only the busy item is sent again"
    assert stored_ids(backend, ids) == ids[:2]


def test_bulk_items_busy_beyond_the_retries_are_a_transient_error(
    backend: ElasticsearchSearchBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.bulk_retry_delays = (0.0, 0.0)
    chunks = items(3)
    ids = [item.chunk.chunk_id for item in chunks]
    backend.index_chunks(chunks[:1], dimensions=4)
    fault = BusyItems(backend, {ids[2]: 429}, times=100)
    monkeypatch.setattr(backend.client, "bulk", fault)
    with pytest.raises(SearchUnavailable, match="kept refusing 1 of 3 chunks as busy") as e:
        backend.index_chunks(chunks, dimensions=4)
    assert e.value.extra["chunk_ids"] == [ids[2]]
    assert len(fault.calls) == 3
    assert stored_ids(backend, ids) == ids[:2]


def test_deletes_refused_as_busy_are_transient_and_others_permanent(
    backend: ElasticsearchSearchBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.index_chunks(items(3), dimensions=4)
    real = backend.client.bulk

    def refusing(status: int) -> Any:
        def bulk(*, operations: list[dict[str, Any]], **kwargs: Any) -> Any:
            ids = [op["delete"]["_id"] for op in operations]
            error = {"type": "es_rejected_execution" if status == 429 else "illegal_argument"}
            items = [{"delete": {"_id": i, "status": status, "error": error}} for i in ids]
            return {"errors": True, "took": 1, "items": items}

        return bulk

    monkeypatch.setattr(backend.client, "bulk", refusing(429))
    with pytest.raises(SearchUnavailable, match="could not delete 3 chunks") as busy:
        backend.delete_source("page", 1)
    assert busy.value.extra["chunk_ids"] == ["page:1:0", "page:1:1", "page:1:2"]
    monkeypatch.setattr(backend.client, "bulk", refusing(400))
    with pytest.raises(SearchError) as refused:
        backend.delete_source("page", 1)
    assert not isinstance(refused.value, SearchUnavailable)
    monkeypatch.setattr(backend.client, "bulk", real)
    assert backend.delete_source("page", 1) == 3
    assert backend.count() == 0
