"""The hybrid retrieval pipeline: fusion, diversity, query handling, re-ranking over real HTTP, and the
whole pipeline against the real Elasticsearch and database backends."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from django.test import override_settings

from search import fusion
from search.backends import get_search_backend
from search.backends.base import BaseSearchBackend, ScoredChunk
from search.embedders import get_embedder
from search.embedders.minilm import MiniLMEmbedder
from search.errors import EmbeddingError, IndexMismatch, InvalidQuery, SearchUnavailable
from search.rerankers import get_reranker
from search.rerankers.http import HttpReranker
from search.retrieval import RetrievalConfig, clean_query, diversify, fuse_legs, retrieve
from search.selectors import hits_search, retrieval_search
from search.services import chunks_index, index_embedder, index_rebuild, source_delete
from search.values import Chunk, Hit, Principal, Visibility
from tests.factories import make_chunk
from tests.json_server import JsonServer

ANONYMOUS = Principal.anonymous()
# The database backend keeps its index in the test database.
pytestmark = pytest.mark.django_db


# --- fusion ---------------------------------------------------------------------------------------
def test_rrf_weights_and_ranks() -> None:
    legs = {"bm25": [("a", 9.0), ("b", 5.0)], "knn": [("b", 0.9), ("c", 0.8)]}
    fused = dict(fusion.rrf(legs, k=60))
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["a"] == pytest.approx(1 / 61) and fused["c"] == pytest.approx(1 / 62)
    weighted = fusion.rrf(legs, weights={"knn": 3.0}, k=60)
    assert [i for i, _ in weighted] == ["b", "c", "a"]


def test_convex_minmax_uses_floor_for_missing() -> None:
    legs = {"bm25": [("a", 10.0), ("b", 6.0), ("c", 2.0)], "knn": [("c", 0.9), ("a", 0.5)]}
    fused = dict(fusion.convex(legs, weights={"bm25": 0.5, "knn": 0.5}))
    assert fused["a"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.0)
    assert fused["b"] == pytest.approx(0.5 * 0.5 + 0.5 * 0.0)  # missing from knn: its floor
    assert fused["c"] == pytest.approx(0.5 * 0.0 + 0.5 * 1.0)


def test_zscore_and_confidence() -> None:
    z = fusion._zscore([("a", 3.0), ("b", 1.0)])
    assert z == {"a": pytest.approx(1.0), "b": pytest.approx(-1.0)}
    assert fusion.bm25_confidence([("a", 10.0), ("b", 1.0)]) == pytest.approx(0.45)
    assert fusion.bm25_confidence([(str(i), 5.0) for i in range(10)]) == 0.0
    assert fusion.bm25_confidence([]) == 0.0


def test_leg_overlap_counts_shared_items_or_sources() -> None:
    legs = {"bm25": [("a1", 9.0), ("b1", 5.0), ("c1", 1.0)], "knn": [("a2", 0.9), ("b1", 0.8), ("d1", 0.7)]}
    assert fusion.leg_overlap(legs, depth=3) == pytest.approx(1 / 3)
    # a1 and a2 are two sections of source a: compared by source, the legs agree on a and b.
    groups = {"a1": "a", "a2": "a", "b1": "b", "c1": "c", "d1": "d"}
    assert fusion.leg_overlap(legs, depth=3, groups=groups) == pytest.approx(2 / 3)
    # A leg shorter than the depth is compared over what it returned.
    assert fusion.leg_overlap({"bm25": [("b1", 2.0)], "knn": legs["knn"]}, depth=10) == 1.0
    assert fusion.leg_overlap({"bm25": [], "knn": legs["knn"]}) == 0.0


def test_adaptive_convex_lets_bm25_reorder_only_when_the_legs_agree() -> None:
    vector = [("v1", 0.90), ("v2", 0.89), ("v3", 0.88), ("v4", 0.50)]
    # BM25 decisively prefers v3, one of the vector leg's own top candidates: it may move it up.
    agreeing = {"bm25": [("v3", 30.0), ("v2", 4.0), ("v1", 3.0)], "knn": vector}
    assert [i for i, _ in fusion.adaptive_convex(agreeing)][0] == "v3"
    # The same decisive BM25 list over passages the vector leg did not rank: the vector order stands.
    disagreeing = {"bm25": [("x1", 30.0), ("x2", 4.0), ("x3", 3.0)], "knn": vector}
    assert fusion.leg_overlap(disagreeing) == 0.0
    assert [i for i, _ in fusion.adaptive_convex(disagreeing)][:4] == ["v1", "v2", "v3", "v4"]
    # Without the agreement factor BM25 keeps a weight and its top passage outranks the vector's.
    ungated = [i for i, _ in fusion.adaptive_convex(disagreeing, agreement=False, base_weight=0.8)]
    assert ungated.index("x1") < ungated.index("v4")
    assert [i for i, _ in fusion.adaptive_convex(disagreeing, base_weight=0.8)].index("x1") > 3
    # Without the margin (agreement_convex) BM25's weight is base_weight · overlap exactly: 0.4 · 1 here.
    fused = dict(fusion.agreement_convex(agreeing))
    assert fused["v3"] == pytest.approx(0.4 * 1.0 + 0.6 * (0.88 - 0.50) / (0.90 - 0.50))


def test_fuse_legs_judges_agreement_by_source() -> None:
    # Two sections of one page: BM25 found one, kNN the other. By chunk the legs share nothing; by
    # source they agree, so BM25 keeps its weight and lifts the page's section it matched.
    page_a, page_a_other = make_chunk(1, 0), make_chunk(1, 1)
    b, c, d = make_chunk(2, 0), make_chunk(3, 0), make_chunk(4, 0)
    legs = {
        "bm25": [scored(page_a, 20.0), scored(d, 1.0)],
        "knn": [scored(page_a_other, 0.9), scored(b, 0.89), scored(c, 0.88)],
    }
    config = RetrievalConfig(fusion="adaptive_convex", fusion_params={"base_weight": 1.0})
    order = [h.chunk.chunk_id for h in fuse_legs(legs, config=config)]
    assert order.index(page_a.chunk_id) < order.index(b.chunk_id)
    ungrouped = RetrievalConfig(fusion="adaptive_convex", fusion_params={"base_weight": 1.0, "groups": {}})
    order = [h.chunk.chunk_id for h in fuse_legs(legs, config=ungrouped)]
    assert order.index(page_a.chunk_id) > order.index(b.chunk_id)


def test_unknown_fusion_is_a_configuration_error() -> None:
    from django.core.exceptions import ImproperlyConfigured

    with override_settings(KNOWLEDGE_RETRIEVAL={"FUSION": "magic"}):
        with pytest.raises(ImproperlyConfigured, match="magic"):
            RetrievalConfig.from_settings()


def scored(chunk: Chunk, score: float) -> ScoredChunk:
    return ScoredChunk(chunk=chunk, score=score)


def test_fuse_legs_keeps_per_leg_scores_and_ranks() -> None:
    a, b, c = make_chunk(1, 0), make_chunk(2, 0), make_chunk(3, 0)
    legs = {"bm25": [scored(a, 7.0), scored(b, 3.0)], "knn": [scored(b, 0.9), scored(c, 0.7)]}
    hits = fuse_legs(legs, config=RetrievalConfig(fusion="rrf"))
    assert [h.chunk.chunk_id for h in hits][0] == b.chunk_id
    top = hits[0]
    assert top.scores["bm25"] == 3.0 and top.ranks["bm25"] == 2
    assert top.scores["knn"] == 0.9 and top.ranks["knn"] == 1
    assert top.ranks["fused"] == 1 and top.rank == 1 and top.score == top.scores["fused"]
    assert "bm25" not in next(h for h in hits if h.chunk.chunk_id == c.chunk_id).scores


def test_diversify_caps_chunks_per_source_and_backfills() -> None:
    hits = [Hit(chunk=make_chunk(1, i), score=10 - i, rank=i + 1) for i in range(5)]
    hits.insert(3, Hit(chunk=make_chunk(2, 0), score=6.5, rank=4))
    result = diversify(hits, k=4, max_per_source=2)
    assert [(h.chunk.source_id, h.chunk.position) for h in result] == [(1, 0), (1, 1), (2, 0), (1, 2)]
    assert [h.rank for h in result] == [1, 2, 3, 4]  # (1, 2) only fills a slot nobody else could
    assert len(diversify(hits, k=3, max_per_source=1)) == 3


# --- query handling -------------------------------------------------------------------------------
@pytest.mark.parametrize("query", ["", "   ", "\n\t", "?!", "\x00\x01"])
def test_empty_queries_are_invalid(query: str) -> None:
    with pytest.raises(InvalidQuery):
        clean_query(query)


def test_query_cleaning() -> None:
    assert clean_query(b"caf\xc3\xa9 \xff menu") == "café \ufffd menu"
    assert clean_query("  many   spaces\x00here ") == "many spaces here"
    assert len(clean_query("word " * 2000, max_chars=2000)) == 2000


# --- the pipeline on real engines -----------------------------------------------------------------
CORPUS = [
    ("Publishing pages", "To publish a page, open it in the editor and choose Publish from the action menu."),
    (
        "Image renditions",
        "Wagtail generates image renditions with the image tag, e.g. fill-200x200 for thumbnails.",
    ),
    ("Search backends", "Configure WAGTAILSEARCH_BACKENDS to use Elasticsearch for the site search."),
    ("Lentil soup", "Simmer red lentils with onion, cumin and stock for twenty minutes."),
    ("Private notes", "The staff-only budget for 2025 is stored in the finance folder."),
]


def corpus_chunks() -> list[Chunk]:
    chunks = []
    for number, (title, text) in enumerate(CORPUS, start=1):
        visibility = Visibility.LOGIN if title == "Private notes" else Visibility.PUBLIC
        chunks.append(
            make_chunk(
                number, 0, title=title, text=text, heading_path=(), visibility=visibility, content_hash=""
            )
        )
    # A long source: five chunks about one topic, to see the per-source cap.
    for position in range(5):
        chunks.append(
            make_chunk(
                9,
                position,
                title="Image formats",
                text=f"Image rendition formats part {position}: webp, avif.",
                heading_path=(),
                content_hash="",
            )
        )
    return chunks


@pytest.fixture(params=["elasticsearch", "database"])
def backend_alias(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    """A settings alias pointing at a throwaway index on each real backend."""
    index = f"test-retrieval-{uuid.uuid4().hex[:10]}"
    if request.param == "database":
        config = {"BACKEND": "search.backends.database", "INDEX": index, "OPTIONS": {}}
    else:
        config = {**settings.KNOWLEDGE_SEARCH_BACKENDS["default"], "INDEX": index}
    settings.KNOWLEDGE_SEARCH_BACKENDS = {**settings.KNOWLEDGE_SEARCH_BACKENDS, "retrieval": config}
    yield "retrieval"
    get_search_backend("retrieval").drop()


@pytest.fixture
def indexed(backend_alias: str) -> str:
    assert chunks_index(corpus_chunks(), backend_alias=backend_alias) == 10
    return backend_alias


def test_hybrid_search_finds_by_meaning_and_by_words(indexed: str) -> None:
    hits = hits_search(
        "how do I make a page live on the site", principal=ANONYMOUS, k=3, backend_alias=indexed
    )
    assert hits[0].chunk.title == "Publishing pages"
    assert "knn" in hits[0].scores and hits[0].ranks["fused"] >= 1 and hits[0].rank == 1
    exact = hits_search("WAGTAILSEARCH_BACKENDS", principal=ANONYMOUS, k=3, backend_alias=indexed)
    assert exact[0].chunk.title == "Search backends"
    assert exact[0].ranks.get("bm25") == 1


def test_both_legs_run_and_an_embedding_failure_is_reported_as_such(
    indexed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, embedder = get_search_backend(indexed), get_embedder()
    result = retrieve(
        "publishing pages", principal=ANONYMOUS, k=3, backend=backend, embedder=embedder, expanders=[]
    )
    assert {"embed", "bm25", "knn", "fuse", "total"} <= set(result.timings)
    assert result.legs["bm25"] and result.legs["knn"]
    # On Elasticsearch the BM25 leg is in flight in another thread when the embedding fails: the
    # caller still gets the embedding error, not a search error or a partial result.
    calls: list[str] = []
    real_search_text = backend.search_text

    def counting_search_text(*args: Any, **kwargs: Any) -> list[ScoredChunk]:
        calls.append("bm25")
        return real_search_text(*args, **kwargs)

    def broken_embed_query(text: str) -> Any:
        raise RuntimeError("model file unreadable")

    monkeypatch.setattr(backend, "search_text", counting_search_text)
    monkeypatch.setattr(embedder, "embed_query", broken_embed_query)
    with pytest.raises(EmbeddingError, match="model file unreadable"):
        retrieve(
            "publishing pages", principal=ANONYMOUS, k=3, backend=backend, embedder=embedder, expanders=[]
        )
    assert calls == (["bm25"] if backend.concurrent_legs else [])


def test_a_forked_worker_gets_its_own_leg_pool() -> None:
    """A Celery prefork child inherits the pool object but not its threads: it must build a new one."""
    from search import retrieval

    parent_pool = retrieval._leg_pool()
    assert parent_pool.submit(lambda: 1).result(timeout=5) == 1
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            pool = retrieval._leg_pool()
            ok = pool is not parent_pool and pool.submit(lambda: 2).result(timeout=5) == 2
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    reported = os.read(read, 1)
    os.waitpid(pid, 0)
    assert reported == b"1"
    assert retrieval._leg_pool() is parent_pool  # the parent keeps its pool


def test_visibility_is_filtered_for_the_principal(indexed: str) -> None:
    query = "staff-only budget finance folder"
    anonymous = hits_search(query, principal=ANONYMOUS, k=10, backend_alias=indexed)
    assert "Private notes" not in {h.chunk.title for h in anonymous}
    signed_in = hits_search(query, principal=Principal(user_id=3), k=10, backend_alias=indexed)
    assert signed_in[0].chunk.title == "Private notes"


def test_scope_and_diversity(indexed: str) -> None:
    hits = hits_search("image rendition formats", principal=ANONYMOUS, k=5, backend_alias=indexed)
    assert sum(1 for h in hits if h.chunk.source_id == 9) == 3  # MAX_PER_SOURCE
    scoped = hits_search("image", principal=ANONYMOUS, k=5, scope=["page:2"], backend_alias=indexed)
    assert {h.chunk.source_key for h in scoped} == {"page:2"}


def test_long_and_bad_queries(indexed: str) -> None:
    long_query = ("publish the page from the action menu " * 300)[:10_000]
    assert (
        hits_search(long_query, principal=ANONYMOUS, k=3, backend_alias=indexed)[0].chunk.title
        == "Publishing pages"
    )
    raw = hits_search(b"lentil soup \xff\xfe", principal=ANONYMOUS, k=1, backend_alias=indexed)
    assert raw[0].chunk.title == "Lentil soup"
    with pytest.raises(InvalidQuery):
        hits_search("   ", principal=ANONYMOUS, k=3, backend_alias=indexed)


def test_unchanged_chunks_are_not_embedded_again(indexed: str) -> None:
    embedder = get_embedder()
    inner = getattr(embedder, "inner", embedder)
    calls: list[int] = []
    original = inner.embed_documents

    def counting(texts: Sequence[str]) -> Any:
        calls.append(len(texts))
        return original(texts)

    inner.embed_documents = counting  # type: ignore[method-assign]
    try:
        changed = [c for c in corpus_chunks() if c.source_id == 9]
        changed[0] = make_chunk(
            9,
            0,
            title="Image formats",
            text="Completely new text about SVG.",
            heading_path=(),
            content_hash="",
        )
        chunks_index(changed, backend_alias=indexed)
    finally:
        del inner.embed_documents
    # Only the changed chunk reached the model (the cache would hide it otherwise, so count misses too).
    assert sum(calls) <= 1
    assert source_delete("page", 9, backend_alias=indexed) == 5
    assert hits_search("SVG", principal=ANONYMOUS, k=10, backend_alias=indexed) == [] or all(
        h.chunk.source_id != 9 for h in hits_search("SVG", principal=ANONYMOUS, k=10, backend_alias=indexed)
    )


def expand_with_history(query: str, *, history: Sequence[Mapping[str, str]]) -> str:
    earlier = " ".join(turn["content"] for turn in history if turn.get("role") == "user")
    return f"{earlier} {query}".strip()


def test_query_expanders_from_settings_use_history(indexed: str, settings: Any) -> None:
    settings.KNOWLEDGE_QUERY_EXPANDERS = ["tests.search.test_retrieval.expand_with_history"]
    result = retrieval_search(
        "and what spices?",
        principal=ANONYMOUS,
        k=2,
        backend_alias=indexed,
        history=[{"role": "user", "content": "How do I cook lentil soup?"}],
    )
    assert result.query.startswith("How do I cook lentil soup?")
    assert result.hits[0].chunk.title == "Lentil soup"


def test_engine_failure_is_search_unavailable(settings: Any) -> None:
    settings.KNOWLEDGE_SEARCH_BACKENDS = {
        **settings.KNOWLEDGE_SEARCH_BACKENDS,
        "down": {
            **settings.KNOWLEDGE_SEARCH_BACKENDS["default"],
            "URLS": ["http://127.0.0.1:9"],
            "TIMEOUT": 1,
            "INDEX": "test-down",
        },
    }
    with pytest.raises(SearchUnavailable):
        hits_search("anything at all", principal=ANONYMOUS, k=3, backend_alias="down")


class BrokenBackend(BaseSearchBackend):
    """A backend whose engine raises a raw client error, as an unwrapped driver would."""

    def search_text(self, query: str, **kwargs: Any) -> list[ScoredChunk]:
        raise ConnectionRefusedError("connection refused")

    search_vector = search_text  # type: ignore[assignment]
    index_chunks = delete_source = stored_hashes = rebuild = drop = get_chunks = count = health = search_text  # type: ignore[assignment]
    chunk_states = stored_model = search_text  # type: ignore[assignment]


def test_raw_engine_errors_are_wrapped() -> None:
    with pytest.raises(SearchUnavailable, match="connection refused"):
        retrieve(
            "hello",
            principal=ANONYMOUS,
            k=3,
            backend=BrokenBackend("broken", {}),
            embedder=get_embedder(),
            expanders=[],
        )


# --- re-ranking over HTTP -------------------------------------------------------------------------
class RerankServer(JsonServer):
    """A real TEI/Cohere-style POST /rerank server that scores by a keyword count."""

    def __init__(self, *, keyword: str, style: str = "cohere", status: int = 200) -> None:
        self.requests: list[dict[str, Any]] = []

        def respond(path: str, body: Any, headers: Any) -> tuple[int, Any]:
            self.requests.append(body)
            scores = [doc.lower().count(keyword) for doc in body["documents"]]
            if style == "cohere":
                return status, {"results": [{"index": i, "relevance_score": s} for i, s in enumerate(scores)]}
            return status, [{"index": i, "score": s} for i, s in enumerate(scores)]

        super().__init__(respond, path="/rerank")


@pytest.mark.parametrize("style", ["cohere", "tei"])
def test_http_reranker_scores_documents(style: str) -> None:
    server = RerankServer(keyword="soup", style=style)
    try:
        reranker = HttpReranker("r", {"OPTIONS": {"URL": server.url, "MODEL": "m"}})
        assert reranker.score("q", ["no", "soup soup", "soup"]) == [0.0, 2.0, 1.0]
        assert server.requests[0]["query"] == "q" and server.requests[0]["model"] == "m"
    finally:
        server.close()


@pytest.mark.parametrize("backend_alias", ["elasticsearch"], indirect=True)
def test_pipeline_reranks_and_degrades_when_reranker_fails(indexed: str, settings: Any) -> None:
    server = RerankServer(keyword="lentil")
    failing = RerankServer(keyword="x", status=500)
    try:
        settings.KNOWLEDGE_RERANKERS = {
            "default": {"BACKEND": "search.rerankers.http", "TOP_N": 10, "OPTIONS": {"URL": server.url}},
            "failing": {
                "BACKEND": "search.rerankers.http",
                "OPTIONS": {"URL": failing.url, "MAX_RETRIES": 0},
            },
        }
        result = retrieval_search("publishing pages", principal=ANONYMOUS, k=3, backend_alias=indexed)
        assert result.hits[0].chunk.title == "Lentil soup"  # the re-ranker's opinion wins
        assert result.hits[0].ranks["rerank"] == 1 and "rerank" in result.hits[0].scores
        backend = get_search_backend(indexed)
        degraded = retrieve(
            "publishing pages",
            principal=ANONYMOUS,
            k=3,
            backend=backend,
            embedder=get_embedder(),
            reranker=get_reranker("failing"),
            expanders=[],
        )
        assert degraded.degraded == ("rerank",)
        assert degraded.hits[0].chunk.title == "Publishing pages"
    finally:
        server.close()
        failing.close()


class RenamedMiniLM(MiniLMEmbedder):
    """MiniLM under another model name: to the index, another embedder of the same dimensions (the case a
    dimension check alone cannot see)."""

    model_name = "renamed-minilm"


Embedder = RenamedMiniLM  # KNOWLEDGE_EMBEDDERS: {"BACKEND": "tests.search.test_retrieval"}


def test_queries_and_writes_refuse_an_index_built_with_another_embedder(indexed: str, settings: Any) -> None:
    built_with = index_embedder().identity
    assert get_search_backend(indexed).stored_model() == built_with
    settings.KNOWLEDGE_EMBEDDERS = {
        **settings.KNOWLEDGE_EMBEDDERS,
        "renamed": {"BACKEND": "tests.search.test_retrieval", "CACHE": "none"},
    }
    settings.KNOWLEDGE_EMBEDDER = "renamed"
    configured = index_embedder().identity
    assert configured == "tests.search.test_retrieval:renamed-minilm:384" != built_with
    with pytest.raises(IndexMismatch) as query_error:
        hits_search("publishing pages", principal=ANONYMOUS, k=3, backend_alias=indexed)
    with pytest.raises(IndexMismatch) as write_error:
        chunks_index([make_chunk(20, 0, text="New text.")], backend_alias=indexed)
    for error in (query_error.value, write_error.value):
        assert built_with in error.message and configured in error.message
        assert "manage.py reindex --all --rebuild" in error.message
    # The fix the message names: a rebuild records the configured embedder, and questions work again.
    assert index_rebuild([corpus_chunks()], backend_alias=indexed) == 10
    assert get_search_backend(indexed).stored_model() == configured
    hits = hits_search("how do I make a page live", principal=ANONYMOUS, k=3, backend_alias=indexed)
    assert hits[0].chunk.title == "Publishing pages"
