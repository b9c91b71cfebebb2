"""Embedders: the offline MiniLM model, an OpenAI-compatible endpoint (a real local HTTP server speaking
the embeddings protocol), the vector cache and the settings registry."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from django.core.cache import cache, caches
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from search.embedders import get_embedder
from search.embedders.cache import CachedEmbedder, DjangoCacheStore, LRUStore, cache_key
from search.embedders.minilm import MiniLMEmbedder
from search.embedders.openai import OpenAIEmbedder
from search.errors import EmbeddingError
from tests.json_server import JsonServer


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder("test", {"OPTIONS": {"BATCH_SIZE": 4, "THREADS": 1}})


class CountingMiniLM(MiniLMEmbedder):
    """The real model, counting the passages it is asked to embed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.embedded: list[str] = []

    def embed_documents(self, texts: Sequence[str]) -> Any:
        self.embedded.extend(texts)
        return super().embed_documents(texts)


# --- MiniLM ---------------------------------------------------------------------------------------
def test_minilm_creates_nothing_until_used() -> None:
    embedder = MiniLMEmbedder("lazy", {})
    assert embedder._session is None and embedder._tokenizer is None
    assert embedder.dimensions == 384 and embedder.max_tokens == 256


def test_minilm_vectors_are_normalised_and_semantic(minilm: MiniLMEmbedder) -> None:
    vectors = minilm.embed_documents(
        [
            "How do I publish a page in Wagtail?",
            "Publishing pages in the Wagtail admin",
            "Recipe for lentil soup",
        ]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = minilm.embed_query("publish a wagtail page")
    assert float(query @ vectors[1]) > float(query @ vectors[2]) + 0.2


def test_minilm_batching_and_sorting_do_not_change_vectors(minilm: MiniLMEmbedder) -> None:
    texts = ["short", "a much longer passage " * 20, "medium length text about search", "x y z", "last one"]
    together = minilm.embed_documents(texts)
    alone = np.stack([minilm.embed_documents([t])[0] for t in texts])
    # Padding is masked out of the mean, so batch composition must not matter.
    assert np.min(np.sum(together * alone, axis=1)) > 0.9999


def test_minilm_counts_tokens_and_truncates_long_text(minilm: MiniLMEmbedder) -> None:
    assert minilm.count_tokens("hello world") == 4  # [CLS] hello world [SEP]
    long_text = "elasticsearch " * 3000
    assert minilm.count_tokens(long_text) > 256
    vector = minilm.embed_query(long_text)  # truncated to the window, not an error
    assert vector.shape == (384,)


def test_minilm_windows_cover_every_token(minilm: MiniLMEmbedder) -> None:
    words = [f"word{i}" for i in range(600)]
    text = " ".join(words)
    windows = minilm.split_windows(text, max_tokens=128, overlap=16)
    assert len(windows) > 2
    assert all(minilm.count_tokens(w) <= 128 for w in windows)
    covered = set(" ".join(windows).split())
    assert covered == set(words)
    assert minilm.split_windows("fits easily") == ["fits easily"]
    assert minilm.split_windows("   ") == []


def test_minilm_bad_model_path_is_an_embedding_error() -> None:
    embedder = MiniLMEmbedder("broken", {"OPTIONS": {"MODEL_PATH": "/nonexistent/model.onnx"}})
    with pytest.raises(EmbeddingError, match="/nonexistent/model.onnx"):
        embedder.embed_query("anything")


# --- cache ----------------------------------------------------------------------------------------
def test_cache_hit_skips_the_model() -> None:
    inner = CountingMiniLM("counting", {})
    embedder = CachedEmbedder(inner, LRUStore(16))
    first = embedder.embed_documents(["alpha text", "beta text", "alpha text"])
    assert inner.embedded == ["alpha text", "beta text"]  # the duplicate is embedded once
    again = embedder.embed_documents(["beta text", "alpha text"])
    assert inner.embedded == ["alpha text", "beta text"]  # all hits: the model did not run
    assert np.allclose(again[0], first[1]) and np.allclose(again[1], first[0])
    embedder.embed_query("alpha text")  # queries are cached separately
    assert inner.embedded[-1] == "alpha text" and len(inner.embedded) == 3


def test_lru_store_evicts_least_recently_used() -> None:
    store = LRUStore(2)
    store.set_many({"a": b"1", "b": b"2"})
    store.get_many(["a"])
    store.set_many({"c": b"3"})
    assert set(store.get_many(["a", "b", "c"])) == {"a", "c"}


def test_django_cache_store_keeps_float32_bytes_in_redis() -> None:
    assert "redis" in type(caches["default"]).__module__.lower()  # the test settings configure Redis
    inner = CountingMiniLM("redis", {})
    text = f"cached in redis {hashlib.sha256(str(id(inner)).encode()).hexdigest()}"
    embedder = CachedEmbedder(inner, DjangoCacheStore("default"))
    vector = embedder.embed_documents([text])[0]
    raw = cache.get(cache_key(f"{inner.model_name}:384", "passage", text))
    assert isinstance(raw, bytes) and len(raw) == 384 * 4
    assert np.allclose(np.frombuffer(raw, dtype=np.float32), vector)
    fresh_inner = CountingMiniLM("redis2", {})
    CachedEmbedder(fresh_inner, DjangoCacheStore("default")).embed_documents([text])
    assert fresh_inner.embedded == []  # another process (a new embedder) reads the shared cache


# --- registry -------------------------------------------------------------------------------------
def test_unknown_alias_names_it() -> None:
    with pytest.raises(ImproperlyConfigured, match="'nope'"):
        get_embedder("nope")


def test_bad_backend_path_names_the_alias() -> None:
    with override_settings(KNOWLEDGE_EMBEDDERS={"x": {"BACKEND": "search.embedders.missing"}}):
        with pytest.raises(ImproperlyConfigured, match="'x'"):
            get_embedder("x")


def test_default_embedder_is_cached_minilm() -> None:
    embedder = get_embedder()
    assert isinstance(embedder, CachedEmbedder) and isinstance(embedder.inner, MiniLMEmbedder)
    assert get_embedder() is embedder
    with override_settings(
        KNOWLEDGE_EMBEDDERS={"default": {"BACKEND": "search.embedders.minilm", "CACHE": "none"}}
    ):
        assert isinstance(get_embedder(), MiniLMEmbedder)


# --- OpenAI-compatible endpoint ---------------------------------------------------------------------
def fake_vector(text: str, dims: int) -> list[float]:
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    return np.random.default_rng(seed).normal(size=dims).tolist()


class EmbeddingsServer(JsonServer):
    """A real HTTP server speaking POST /v1/embeddings with deterministic vectors."""

    def __init__(self, *, dims: int = 8, fail_first: int = 0, status: int = 500) -> None:
        self.dims = dims
        self.fail_first = fail_first
        self.status = status
        self.requests: list[dict[str, Any]] = []
        super().__init__(self._respond, path="/v1")

    def _respond(self, path: str, body: Any, headers: Any) -> tuple[int, Any]:
        self.requests.append({"path": path, "body": body, "auth": headers.get("Authorization")})
        if self.fail_first > 0:
            self.fail_first -= 1
            return self.status, {"error": {"message": "try again", "type": "server_error"}}
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dims = body.get("dimensions", self.dims)
        data = [
            {"object": "embedding", "index": i, "embedding": fake_vector(t, dims)}
            for i, t in enumerate(inputs)
        ]
        # Out of order on purpose: clients must sort by index.
        return 200, {
            "object": "list",
            "data": data[::-1],
            "model": body["model"],
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }


@pytest.fixture
def server() -> Iterator[EmbeddingsServer]:
    s = EmbeddingsServer(dims=8)
    yield s
    s.close()


def openai_embedder(url: str, **options: Any) -> OpenAIEmbedder:
    return OpenAIEmbedder(
        "remote",
        {"OPTIONS": {"BASE_URL": url, "API_KEY": "sk-test", "MODEL": "tiny", "DIMENSIONS": 8, **options}},
    )


def test_openai_embedder_batches_and_normalises(server: EmbeddingsServer) -> None:
    embedder = openai_embedder(server.url, BATCH_SIZE=2)
    texts = ["one", "two", "three", "", "five"]
    vectors = embedder.embed_documents(texts)
    assert vectors.shape == (5, 8)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    expected = np.asarray(fake_vector("three", 8), dtype=np.float32)
    assert np.allclose(vectors[2], expected / np.linalg.norm(expected), atol=1e-5)
    assert [len(r["body"]["input"]) for r in server.requests] == [2, 2, 1]
    assert server.requests[0]["path"] == "/v1/embeddings"
    assert server.requests[0]["auth"] == "Bearer sk-test"
    assert server.requests[0]["body"]["dimensions"] == 8 and server.requests[0]["body"]["model"] == "tiny"
    assert server.requests[1]["body"]["input"][1] == " "  # blank input replaced, rows stay aligned


def test_openai_embedder_retries_transient_errors() -> None:
    flaky = EmbeddingsServer(dims=8, fail_first=1, status=503)
    try:
        vector = openai_embedder(flaky.url, MAX_RETRIES=2).embed_query("hello")
        assert vector.shape == (8,) and len(flaky.requests) == 2
    finally:
        flaky.close()


def test_openai_embedder_gives_up_with_embedding_error() -> None:
    broken = EmbeddingsServer(dims=8, fail_first=10, status=400)
    try:
        with pytest.raises(EmbeddingError, match="failed"):
            openai_embedder(broken.url, MAX_RETRIES=2).embed_query("hello")
        assert len(broken.requests) == 1  # a 400 is permanent: no retry
    finally:
        broken.close()


def test_openai_embedder_rejects_wrong_dimensions(server: EmbeddingsServer) -> None:
    embedder = OpenAIEmbedder(
        "remote",
        {"OPTIONS": {"BASE_URL": server.url, "MODEL": "tiny", "DIMENSIONS": 16, "SEND_DIMENSIONS": False}},
    )
    with pytest.raises(EmbeddingError, match="16"):
        embedder.embed_query("hello")


def test_openai_embedder_unreachable_is_embedding_error() -> None:
    embedder = openai_embedder("http://127.0.0.1:9/v1", MAX_RETRIES=0, TIMEOUT=2)
    with pytest.raises(EmbeddingError):
        embedder.embed_query("hello")
