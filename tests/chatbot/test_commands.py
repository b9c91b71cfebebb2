"""`manage.py ask` and `manage.py evaluate_rag` on Markdown imported into the real index."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from chatbot.models import ChatSession
from chatbot.rag.cache import index_version_bump
from knowledgebase.models import KnowledgePage
from tests.factories import user
from tests.knowledgebase.conftest import clean_index, home, wait_for_jobs  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker", "clean_index"),
]

CACHING_MD = """# Caching guide

## Fragment caching

Wrap expensive template fragments in the zanzibarite cache tag. The zanzibarite tag keeps a fragment for
ten minutes unless you pass another timeout.
"""
SEARCH_MD = """# Search setup

## Quokkasearch

Set QUOKKA_URL to point the search backend at your Quokkasearch cluster. Quokkasearch needs server version 9
or newer.
"""


@pytest.fixture
def docs(home: Any, tmp_path: Path) -> dict[str, KnowledgePage]:  # noqa: F811
    index_version_bump()
    (tmp_path / "guides").mkdir()
    (tmp_path / "guides" / "caching.md").write_text(CACHING_MD)
    (tmp_path / "search.md").write_text(SEARCH_MD)
    call_command("import_markdown", str(tmp_path), parent="/docs/", verbosity=0)
    pages = {p.source_path: p for p in KnowledgePage.objects.exclude(source_path="")}
    for page in pages.values():
        wait_for_jobs("page", page.pk)
    return pages


def test_ask_streams_the_answer_and_lists_citations(docs):
    out, err = StringIO(), StringIO()
    call_command("ask", "How long does the zanzibarite tag keep a fragment?", stdout=out, stderr=err)
    text = out.getvalue()
    answer, _, sources = text.partition("Sources:")
    assert "ten minutes" in answer and "[1]" in answer
    page = docs["guides/caching.md"]
    assert (
        f"[1] Caching guide › Fragment caching — http://127.0.0.1:8000{page.url}#fragment-caching" in sources
    )
    assert "extractive" in err.getvalue()
    assert not ChatSession.objects.exists(), "the throwaway session is deleted"


def test_ask_lists_a_declines_closest_pages(docs):
    out, err = StringIO(), StringIO()
    strict = {**settings.CHATBOT_RAG, "EXTRACTIVE_MIN_SCORE": 0.99, "EXTRACTIVE_SEMANTIC_MIN_SCORE": 0.99}
    with override_settings(CHATBOT_RAG=strict):
        call_command("ask", "How long does the zanzibarite tag keep a fragment?", stdout=out, stderr=err)
    answer, _, closest = out.getvalue().partition("Closest pages (they may not answer the question):")
    assert "doesn't cover this" in answer and "Sources:" not in answer
    page = docs["guides/caching.md"]
    assert closest.splitlines()[1] == (
        f"- Caching guide › Fragment caching — http://127.0.0.1:8000{page.url}#fragment-caching"
    ), closest
    assert "not covered by the knowledge base" in err.getvalue()


def test_ask_continues_a_session_as_its_user(docs):
    owner = user("owner")
    session = ChatSession.objects.create(user=owner)
    out = StringIO()
    call_command("ask", "What does QUOKKA_URL point at?", user="owner", session=str(session.uuid), stdout=out)
    assert "Quokkasearch cluster" in out.getvalue()
    assert session.messages.count() == 2
    with pytest.raises(CommandError, match="another user"):
        call_command("ask", "Anything?", session=str(session.uuid), stdout=StringIO())
    with pytest.raises(CommandError, match="Please type a question"):
        call_command("ask", "  ", user="owner", stdout=StringIO())


def test_evaluate_rag_reports_retrieval_answers_and_declines(docs, tmp_path):
    questions = tmp_path / "questions.jsonl"
    rows = [
        {
            "id": "q1",
            "question": "How long does the zanzibarite tag keep a fragment?",
            "answerable": True,
            "kind": "factoid",
            "relevant": [{"path": "guides/caching.md", "grade": 2}],
            "must_contain": ["ten minutes"],
        },
        {
            "id": "q2",
            "question": "Which server version does it need?",
            "answerable": True,
            "kind": "follow-up",
            "relevant": [{"path": "search.md", "grade": 2}],
            "must_contain": ["version 9"],
            "history": [
                {"role": "user", "content": "How do I configure Quokkasearch?"},
                {"role": "assistant", "content": "Set QUOKKA_URL."},
            ],
        },
        {
            "id": "q3",
            "question": "How much does Divio charge per month for hosting?",
            "answerable": False,
            "kind": "unanswerable",
            "relevant": [],
            "must_contain": [],
        },
        {
            # Declined, and the decline's wording holds the key string: still a miss.
            "id": "q4",
            "question": "What does Divio charge per month to host documents?",
            "answerable": True,
            "kind": "factoid",
            "relevant": [],
            "must_contain": ["documents"],
        },
    ]
    questions.write_text("\n".join(json.dumps(r) for r in rows))
    out = StringIO()
    call_command("evaluate_rag", questions=questions, json=True, stdout=out)
    report = json.loads(out.getvalue().strip().splitlines()[-1])
    overall = report["overall"]["metrics"]
    assert report["questions"] == 4
    assert overall["ndcg@10"] == 1.0 and overall["recall@5"] == 1.0
    assert overall["must_contain"] == pytest.approx(2 / 3, abs=1e-4)
    assert overall["citation_precision"] == 1.0 and overall["unanswerable_declined"] == 1.0
    assert overall["answerable_declined"] == pytest.approx(1 / 3, abs=1e-4)
    q4 = next(r for r in report["results"] if r["id"] == "q4")
    assert q4["declined"] and "documents" in q4["answer"] and q4["must_contain_hit"] is False
    assert overall["declined_related_relevant"] == 0.0, "q4 has no judged file"
    assert overall["first_token_p95"] > 0 and overall["total_p95"] >= overall["first_token_p95"]
    assert set(report["by_kind"]) == {"factoid", "follow-up", "unanswerable"}
    q2 = next(r for r in report["results"] if r["id"] == "q2")
    assert "Quokkasearch" in q2["query"], "the follow-up was condensed with its history"
    assert "kind" in out.getvalue().splitlines()[0]

    # With a support bar no sentence reaches, q1 is declined, and its closest pages hold its judged file.
    questions.write_text(json.dumps(rows[0]))
    strict = {**settings.CHATBOT_RAG, "EXTRACTIVE_MIN_SCORE": 0.99, "EXTRACTIVE_SEMANTIC_MIN_SCORE": 0.99}
    out = StringIO()
    with override_settings(CHATBOT_RAG=strict):
        call_command("evaluate_rag", questions=questions, json=True, stdout=out)
    report = json.loads(out.getvalue().strip().splitlines()[-1])
    [q1] = report["results"]
    assert q1["declined"] and q1["related_paths"][0] == "guides/caching.md", q1["related_paths"]
    assert report["overall"]["metrics"]["declined_related_relevant"] == 1.0


def test_evaluate_rag_answers_with_an_openai_compatible_server(docs, tmp_path, llm_server):
    """`--llm-url`: the generating path measured by the same harness (the bundled SmolLM2 through
    llama_cpp.server); what it answers is the small model's affair, that it answered is the harness's."""
    questions = tmp_path / "questions.jsonl"
    row = {
        "id": "q1",
        "question": "How long does the zanzibarite tag keep a fragment?",
        "answerable": True,
        "kind": "factoid",
        "relevant": [{"path": "guides/caching.md", "grade": 2}],
        "must_contain": ["ten minutes"],
    }
    questions.write_text(json.dumps(row))
    out = StringIO()
    call_command(
        "evaluate_rag",
        questions=questions,
        json=True,
        llm_url=llm_server.base_url,
        llm_model="smollm2",
        stdout=out,
    )
    report = json.loads(out.getvalue().strip().splitlines()[-1])
    [result] = report["results"]
    assert result["model"] == "smollm2" and result["status"] == "complete" and result["error"] == ""
    assert result["answer"].strip(), "the model wrote an answer"
    assert report["overall"]["metrics"]["recall@5"] == 1.0

    with pytest.raises(CommandError, match="No LLM alias 'nope'"):
        call_command("evaluate_rag", questions=questions, llm="nope", stdout=StringIO())
