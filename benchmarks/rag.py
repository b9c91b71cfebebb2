"""The chat answer service on the Wagtail docs: latency before the model's first token, extractive answer
latency, cache hits, follow-up condensing, `evaluate_rag` on all questions (with the AUC of the answer
quality score), and two-fold cross-validation of the tuned thresholds with held-out figures.

    python -m benchmarks.rag [--limit N] [--repeat 3] [--no-cv]

Runs against a throwaway PostgreSQL database and Elasticsearch index (RAG_BENCH_DATABASE, default
`dc_ragbench`; RAG_BENCH_INDEX, default `rag-bench-knowledge`), created and filled on the first run the way
an operator would:

    manage.py migrate
    manage.py import_markdown ../shared/corpus/wagtail-docs --parent /docs/

with tasks in-process (no broker), so the import indexes every page before it returns (~20 minutes on 2
cores, mostly embedding). Later runs reuse them. Writes bench-results/rag.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from typing import Any

from benchmarks.paths import corpus, eval_dir

# Before any project import: importing the project loads its Celery app, which defaults the settings to
# `dev` (SQLite, database search backend). This benchmark measures the production stack.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datacollection.settings.test")

from chatbot.llm import BaseLLM, ChatMessage, GenerationChunk

ROOT = Path(__file__).resolve().parent.parent
CORPUS = corpus("wagtail-docs")
QUESTIONS = eval_dir("wagtail-docs", "questions.jsonl")
PG = "postgres://datacollection:datacollection@127.0.0.1:5432"


def _environment() -> None:
    database = os.environ.get("RAG_BENCH_DATABASE", "dc_ragbench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datacollection.settings.test")
    os.environ["DATABASE_URL"] = f"{PG}/{database}"
    os.environ["KNOWLEDGE_INDEX_NAME"] = os.environ.get("RAG_BENCH_INDEX", "rag-bench-knowledge")
    # In-process tasks, so the import indexes before it returns: an explicit opt-in since tasks go through
    # a broker by default (an empty broker URL alone left every job queued, unindexed).
    os.environ["CELERY_BROKER_URL"] = ""
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    os.environ.setdefault("CACHE_KEY_PREFIX", "ragbench")
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{database}"')


def _prepare() -> dict[str, Any]:
    from django.core.management import call_command

    from datacollection.celery import app
    from knowledgebase.models import KnowledgePage
    from search.backends import get_search_backend

    app.loader.import_default_modules()  # the tasks the import queues by name, run in this process
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    imported = False
    if not KnowledgePage.objects.exclude(source_path="").exists() or get_search_backend().count() == 0:
        call_command("import_markdown", str(CORPUS), parent="/docs/", verbosity=0)
        imported = True
    return {
        "pages": KnowledgePage.objects.exclude(source_path="").count(),
        "chunks": get_search_backend().count(),
        "import_seconds": round(time.perf_counter() - started, 1) if imported else None,
    }


class InstantLLM(BaseLLM):
    """A provider that answers instantly, so the time to its first token is the pipeline's own."""

    model_name = "instant"

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
    ) -> AsyncGenerator[GenerationChunk, None]:
        yield GenerationChunk(text="See [1].")
        yield GenerationChunk(text="", finish_reason="stop")


LLMBackend = InstantLLM


def _percentiles(values: list[float]) -> dict[str, float]:
    from search.metrics import percentile

    return {
        "p50_ms": round(percentile(values, 50) * 1000, 1),
        "p95_ms": round(percentile(values, 95) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
        "n": len(values),
    }


def _timed_answers(questions: list[Any], *, user: Any, repeat: int) -> dict[str, list[float]]:
    """first token / complete, seconds, asking each question `repeat` times in fresh sessions."""
    from asgiref.sync import async_to_sync

    from chatbot.models import ChatSession, Message
    from chatbot.services import answer_stream

    timings: dict[str, list[float]] = {"first_token": [], "total": [], "retrieval": []}
    for _ in range(repeat):
        for question in questions:
            session = ChatSession.objects.create(user=user, title="bench")
            for turn in question.history:
                Message.objects.create(session=session, role=turn["role"], content=turn["content"])

            async def consume(
                session: ChatSession = session, text: str = question.question
            ) -> tuple[float, float]:
                started = time.perf_counter()
                first = None
                async for event in answer_stream(session=session, user=user, question=text):
                    if event.type == "token" and first is None:
                        first = time.perf_counter() - started
                return first or 0.0, time.perf_counter() - started

            first, total = async_to_sync(consume)()
            timings["first_token"].append(first)
            timings["total"].append(total)
            message = session.messages.filter(role="assistant").order_by("-id").first()
            timings["retrieval"].append((message.retrieval_time if message else None) or 0.0)
            session.delete()
    return timings


def _latency(questions: list[Any], *, user: Any, repeat: int) -> dict[str, Any]:
    from django.conf import settings
    from django.test.utils import override_settings

    from chatbot.rag.cache import index_version_bump

    no_cache = {**settings.CHATBOT_ANSWER_CACHE, "ENABLED": False}
    heuristic = {**settings.CHATBOT_RAG, "CONDENSE_WITH_LLM": False, "MIN_RELEVANCE": 0.0}
    instant = {"default": {"BACKEND": __name__}}
    report: dict[str, Any] = {}
    # Warm-up: load the embedder, open connections.
    _timed_answers(questions[:2], user=user, repeat=1)
    with override_settings(
        CHATBOT_ANSWER_CACHE=no_cache, CHATBOT_LLM_BACKENDS=instant, CHATBOT_RAG=heuristic
    ):
        timed = _timed_answers(questions, user=user, repeat=repeat)
        report["before_llm_first_token"] = _percentiles(timed["first_token"])
        report["retrieval"] = _percentiles(timed["retrieval"])
    with override_settings(CHATBOT_ANSWER_CACHE=no_cache):
        timed = _timed_answers(questions, user=user, repeat=repeat)
        report["extractive_first_token"] = _percentiles(timed["first_token"])
        report["extractive_full_answer"] = _percentiles(timed["total"])
    index_version_bump()
    _timed_answers(questions, user=user, repeat=1)  # fill the cache
    timed = _timed_answers(questions, user=user, repeat=1)
    report["cache_hit_full_answer"] = _percentiles(timed["total"])
    return report


def _follow_ups(questions: list[Any], *, user: Any) -> dict[str, Any]:
    """Retrieval of the follow-up questions with the heuristic condensing vs. the question alone."""
    from dataclasses import replace

    from chatbot.evaluation import question_evaluate
    from chatbot.rag.config import RagConfig

    config = RagConfig.from_settings(condense_with_llm=False)
    follow_ups = [q for q in questions if q.history]
    rows: dict[str, Any] = {}
    for name, items in (
        ("condensed", follow_ups),
        ("question_alone", [replace(q, history=()) for q in follow_ups]),
    ):
        results = [question_evaluate(q, user=user, config=config) for q in items]
        rows[name] = {
            "ndcg@10": round(sum(r.ndcg10 or 0.0 for r in results) / len(results), 4),
            "recall@5": round(sum(r.recall5 or 0.0 for r in results) / len(results), 4),
            "must_contain": round(sum(bool(r.must_contain_hit) for r in results) / len(results), 4),
        }
    rows["n"] = len(follow_ups)
    return rows


# The tuned settings, cross-validated (chatbot/evaluation_folds.py). With the embedder (the default path):
# the extractive support threshold and the retrieval decline threshold. Without one: the lexical
# threshold. Fusion weights are the search layer's (search/RETRIEVAL.md) and are not searched here.
SEMANTIC_GRID: list[dict[str, dict[str, Any]]] = [
    {"CHATBOT_RAG": {"EXTRACTIVE_SEMANTIC_MIN_SCORE": t, "MIN_RELEVANCE": r}}
    for t in (0.26, 0.30, 0.34)
    for r in (0.70, 0.74)
]
LEXICAL_GRID: list[dict[str, dict[str, Any]]] = [
    {"CHATBOT_RAG": {"EXTRACTIVE_MIN_SCORE": t}, "CHATBOT_EXTRACTIVE": {"EMBEDDER": ""}} for t in (0.20, 0.25)
]
HEADLINE = (
    "must_contain",
    "unanswerable_declined",
    "answerable_declined",
    "declined_related_relevant",
    "citation_precision",
    "recall@5",
    "ndcg@10",
    "total_p95",
    "quality_auc",
    "quality_auc_with_declines",
)


def _cross_validation(questions: list[Any], *, user: Any) -> dict[str, Any]:
    from chatbot.evaluation_folds import cross_validate

    report: dict[str, Any] = {}
    grids: tuple[tuple[str, list[dict[str, dict[str, Any]]]], ...] = (
        ("semantic", SEMANTIC_GRID),
        ("lexical", LEXICAL_GRID),
    )
    for name, grid in grids:
        started = time.perf_counter()
        report[name] = cross_validate(questions, grid, user=user)
        report[name]["seconds"] = round(time.perf_counter() - started, 1)
        print(f"cross-validation {name}: chosen {report[name]['chosen']}", file=sys.stderr)
    return report


def _headline(overall: dict[str, Any]) -> dict[str, Any]:
    return {k: overall["metrics"].get(k) for k in HEADLINE}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument("--repeat", type=int, default=3, help="latency runs per question")
    parser.add_argument("--output", default=str(ROOT / "bench-results" / "rag.json"))
    parser.add_argument("--no-cv", action="store_true", help="skip the cross-validation (8 full runs)")
    args = parser.parse_args(argv)

    _environment()
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test.utils import override_settings

    from chatbot.evaluation import evaluation_run, questions_load, report_format

    report: dict[str, Any] = {"corpus": _prepare()}
    user, _ = get_user_model().objects.get_or_create(username="rag-bench")
    questions = questions_load(QUESTIONS)[: args.limit]
    report["settings"] = {
        "CHATBOT_RAG": settings.CHATBOT_RAG,
        "LLM": settings.CHATBOT_LLM_BACKENDS["default"]["BACKEND"],
    }
    report["latency"] = _latency(questions, user=user, repeat=args.repeat)
    report["follow_ups"] = _follow_ups(questions, user=user)
    with override_settings(CHATBOT_ANSWER_CACHE={**settings.CHATBOT_ANSWER_CACHE, "ENABLED": False}):
        evaluation = evaluation_run(questions, user=user)
    print(report_format(evaluation), file=sys.stderr)
    report["evaluate_rag"] = {k: evaluation[k] for k in ("questions", "overall", "by_kind")}
    report["public_set"] = _headline(evaluation["overall"])
    if not args.no_cv:
        with override_settings(CHATBOT_ANSWER_CACHE={**settings.CHATBOT_ANSWER_CACHE, "ENABLED": False}):
            report["cross_validation"] = _cross_validation(questions, user=user)
        report["held_out"] = _headline(report["cross_validation"]["semantic"]["held_out"]["overall"])
        print(
            json.dumps({"public_set": report["public_set"], "held_out": report["held_out"]}), file=sys.stderr
        )
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report["latency"], indent=2), file=sys.stderr)
    print(json.dumps(report["follow_ups"], indent=2), file=sys.stderr)
    print(f"wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
