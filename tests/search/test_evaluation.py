"""Metric functions against hand-computed values, BEIR loading and corpus chunking."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from search.embedders.minilm import MiniLMEmbedder
from search.evaluation import (
    SystemRun,
    corpus_chunks,
    format_table,
    load_beir,
    ranked_sources,
    system_metrics,
)
from search.metrics import mrr_at_k, ndcg_at_k, percentile, recall_at_k
from tests.factories import make_chunk


def test_ndcg_graded_by_hand() -> None:
    qrels = {"a": 2, "b": 1, "c": 0, "d": 1}
    ranked = ["c", "a", "x", "b"]
    dcg = 2 / math.log2(3) + 1 / math.log2(5)
    idcg = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, qrels, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["a", "b", "d"], qrels, 10) == pytest.approx(1.0)
    assert ndcg_at_k(ranked, qrels, 1) == 0.0  # "c" is judged but not relevant
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0  # no relevant documents at all


def test_recall_and_mrr_by_hand() -> None:
    qrels = {"a": 2, "b": 1, "c": 0}
    assert recall_at_k(["x", "b", "c"], qrels, 10) == 0.5
    assert recall_at_k(["x", "b", "a"], qrels, 2) == 0.5
    assert mrr_at_k(["x", "c", "b"], qrels, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["x", "y"], qrels, 10) == 0.0
    assert mrr_at_k(["x", "a"], qrels, 1) == 0.0


def test_percentile_interpolates_like_numpy() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 50) == 25.0
    assert percentile(values, 95) == pytest.approx(38.5)
    assert percentile([], 50) == 0.0


def test_system_metrics_average_over_judged_queries() -> None:
    run = SystemRun(rankings={"q1": ["a", "b"], "q2": ["x"], "unjudged": ["a"]}, latencies=[0.010, 0.030])
    metrics = system_metrics(run, {"q1": {"a": 1}, "q2": {"y": 2}}, k=10)
    assert metrics["ndcg@10"] == pytest.approx(0.5)
    assert metrics["recall@10"] == pytest.approx(0.5) and metrics["mrr@10"] == pytest.approx(0.5)
    assert metrics["queries"] == 2 and metrics["p50_ms"] == pytest.approx(20.0)
    assert "ndcg@10" in format_table({"bm25": metrics})


def test_ranked_sources_keeps_each_document_once_at_its_best_chunk() -> None:
    from search.backends.base import ScoredChunk

    chunks = [
        make_chunk(1, 0, source_path="d1"),
        make_chunk(2, 0, source_path="d2"),
        make_chunk(1, 1, source_path="d1"),
    ]
    assert ranked_sources([ScoredChunk(chunk=c, score=1.0) for c in chunks]) == ["d1", "d2"]


def write_beir(directory: Path, *, header: bool) -> None:
    (directory / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": "d1", "title": "Alpha", "text": "first document"},
        {"_id": "d2", "title": "", "text": "second"},
    ]
    (directory / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in corpus) + "\n")
    (directory / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "first"}) + "\n")
    lines = (["query-id\tcorpus-id\tscore"] if header else []) + ["q1\td1\t2", "q1\td2\t0"]
    (directory / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("header", [True, False])
def test_load_beir_with_or_without_header(tmp_path: Path, header: bool) -> None:
    write_beir(tmp_path, header=header)
    dataset = load_beir(tmp_path)
    assert dataset.corpus == {"d1": ("Alpha", "first document"), "d2": ("", "second")}
    assert dataset.queries == {"q1": "first"}
    assert dataset.qrels == {"q1": {"d1": 2, "d2": 0}}


def test_corpus_chunks_window_long_documents(tmp_path: Path) -> None:
    write_beir(tmp_path, header=False)
    dataset = load_beir(tmp_path)
    long_text = " ".join(f"token{i}" for i in range(900))
    dataset = type(dataset)(corpus={**dataset.corpus, "d3": ("Long", long_text)}, queries={}, qrels={})
    embedder = MiniLMEmbedder("eval", {})
    chunks = corpus_chunks(dataset, embedder=embedder)
    long_chunks = [c for c in chunks if c.source_path == "d3"]
    assert len(long_chunks) > 1 and [c.position for c in long_chunks] == list(range(len(long_chunks)))
    assert all(embedder.count_tokens(f"Long\n{c.text}") <= 256 for c in long_chunks)
    assert set(" ".join(c.text for c in long_chunks).split()) == set(long_text.split())
    assert {c.visibility for c in chunks} == {"public"}
    assert len({c.chunk_id for c in chunks}) == len(chunks)
