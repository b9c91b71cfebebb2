"""manage.py evaluate_retrieval (end to end on a tiny BEIR dataset, real Elasticsearch) and search_query."""

from __future__ import annotations

import json
import uuid
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from elasticsearch import Elasticsearch

from search.services import chunks_index
from search.values import Visibility
from tests.factories import make_chunk

DOCS = {
    "rome": ("Rome", "Rome is the capital city of Italy, founded on seven hills along the Tiber."),
    "paris": ("Paris", "Paris is the capital of France, known for the Eiffel Tower and the Louvre museum."),
    "lentils": ("Lentil", "Lentils are edible legumes grown for their lens-shaped seeds, cooked in soups."),
    "python": ("Python", "Python is a programming language that emphasises readable code and indentation."),
    "tiber": ("Tiber", "The Tiber is the river that flows through Rome into the Tyrrhenian Sea."),
}
QUERIES = {
    "q1": "capital of Italy",
    "q2": "programming language",
    "q3": "river through Rome",
    "q4": "unjudged",
}
QRELS = [("q1", "rome", 2), ("q1", "tiber", 1), ("q2", "python", 2), ("q3", "tiber", 2), ("q3", "rome", 1)]


@pytest.fixture
def beir_dir(tmp_path: Path) -> Path:
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": i, "title": t, "text": x}) for i, (t, x) in DOCS.items())
    )
    (tmp_path / "queries.jsonl").write_text(
        "\n".join(json.dumps({"_id": i, "text": t}) for i, t in QUERIES.items())
    )
    (tmp_path / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "\n".join(f"{q}\t{d}\t{g}" for q, d, g in QRELS)
    )
    return tmp_path


def eval_indices(settings: Any) -> set[str]:
    client = Elasticsearch(settings.ELASTICSEARCH_URL)
    return set(client.indices.get(index="eval-*", expand_wildcards="all", ignore_unavailable=True))


def test_evaluate_retrieval_end_to_end(beir_dir: Path, settings: Any, tmp_path: Path) -> None:
    before = eval_indices(settings)
    out = StringIO()
    call_command(
        "evaluate_retrieval",
        str(beir_dir),
        "--json",
        "--cache-dir",
        str(tmp_path / "cache"),
        stdout=out,
        stderr=StringIO(),
    )
    lines = out.getvalue().strip().splitlines()
    payload = json.loads(lines[-1])
    systems = payload["systems"]
    assert set(systems) == {"bm25", "vector", "hybrid"}
    for name in ("vector", "hybrid"):
        assert systems[name]["queries"] == 3
        assert systems[name]["ndcg@10"] > 0.9  # a five-document corpus: the right answers come first
        assert systems[name]["recall@50"] == 1.0 and systems[name]["mrr@10"] == 1.0
        assert 0 < systems[name]["p50_ms"] <= systems[name]["p95_ms"]
    assert payload["documents"] == 5 and payload["chunks"] == 5
    assert any("ndcg@10" in line and "recall@50" in line for line in lines)
    assert eval_indices(settings) - before == set()  # the throwaway index is gone
    assert (
        next((tmp_path / "cache").iterdir()) / "vectors.npy"
    ).exists()  # corpus embeddings cached for the next run

    limited = StringIO()
    call_command(
        "evaluate_retrieval",
        str(beir_dir),
        "--json",
        "--limit",
        "1",
        "--no-cache",
        stdout=limited,
        stderr=StringIO(),
    )
    assert json.loads(limited.getvalue().strip().splitlines()[-1])["systems"]["hybrid"]["queries"] == 1


def test_evaluate_retrieval_drops_the_index_on_error(beir_dir: Path, settings: Any) -> None:
    before = eval_indices(settings)
    (beir_dir / "queries.jsonl").write_text('{"_id": "q1", "text": "   "}\n')  # an empty query fails midway
    with pytest.raises(CommandError, match="empty"):
        call_command("evaluate_retrieval", str(beir_dir), "--no-cache", stdout=StringIO(), stderr=StringIO())
    assert eval_indices(settings) - before == set()


def test_evaluate_retrieval_rejects_a_non_beir_directory(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="corpus.jsonl"):
        call_command("evaluate_retrieval", str(tmp_path))


@pytest.fixture
def search_index(settings: Any) -> Any:
    index = f"test-search-query-{uuid.uuid4().hex[:8]}"
    settings.KNOWLEDGE_SEARCH_BACKENDS = {
        **settings.KNOWLEDGE_SEARCH_BACKENDS,
        "cmd": {**settings.KNOWLEDGE_SEARCH_BACKENDS["default"], "INDEX": index},
    }
    chunks_index(
        [
            make_chunk(
                1,
                0,
                title="Publishing",
                text="Publish a page from the editor's action menu.",
                anchor="publish",
            ),
            make_chunk(
                2,
                0,
                title="Secret",
                text="Staff salaries are reviewed every March.",
                visibility=Visibility.LOGIN,
            ),
        ],
        backend_alias="cmd",
    )
    yield "cmd"
    from search.backends import get_search_backend

    get_search_backend("cmd").drop()


@pytest.mark.django_db
def test_search_query_shows_legs_and_respects_the_user(search_index: str) -> None:
    out = StringIO()
    call_command("search_query", "publish a page", "--backend", search_index, "--k", "5", stdout=out)
    text = out.getvalue()
    assert "as anonymous" in text and "Publishing" in text and "bm25 #1" in text and "knn #" in text
    assert "/page/1/#part-0#publish" in text or "#publish" in text
    assert "Secret" not in text

    get_user_model().objects.create_user(username="staffer", password="x")
    out = StringIO()
    call_command(
        "search_query", "salaries reviewed", "--user", "staffer", "--backend", search_index, stdout=out
    )
    assert "Secret" in out.getvalue() and "as staffer" in out.getvalue()


@pytest.mark.django_db
def test_search_query_unknown_user_and_empty_query(search_index: str) -> None:
    with pytest.raises(CommandError, match="nobody"):
        call_command("search_query", "anything", "--user", "nobody", "--backend", search_index)
    with pytest.raises(CommandError, match="InvalidQuery"):
        call_command("search_query", "  ", "--backend", search_index)
