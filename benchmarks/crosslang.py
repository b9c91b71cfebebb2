"""Cross-language retrieval: French and German questions about the English guide in docs/, and English
questions about three short French/German pages, with MiniLM (English) and e5 (multilingual).

    python -m benchmarks.crosslang [--embedders minilm e5]

The questions (benchmarks/data/crosslang.jsonl) were written for this benchmark: each names the file that
answers it and a key string that the retrieved passage must contain; the foreign pages are in
benchmarks/data/crosslang/. For each embedder, in its own process (the embedder is a setting), a fresh
PostgreSQL database (CROSSLANG_BENCH_DATABASE, default `dc_crosslang`, dropped and created again) and a
fresh Elasticsearch index (CROSSLANG_BENCH_INDEX-<embedder>, default `crosslang-bench-<embedder>`) are
filled the way an operator would, with tasks in-process and the embedding cache off:

    manage.py migrate
    manage.py import_markdown docs --parent /docs/
    manage.py import_markdown benchmarks/data/crosslang --parent /team/

Reported per direction (fr->en, de->en, en->fr, en->de) for each leg alone (BM25, vector) and for the
hybrid (both, fused as configured): Recall@5 (a passage of the expected file containing the key string
in the top 5) and MRR@10, plus the import rate (passages/s, extraction to index) and the embedding rate of
each model. Writes bench-results/crosslang.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess  # fixed argv
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
QUESTIONS = DATA / "crosslang.jsonl"
# Import roots: a page's source_path is its path relative to the folder it was imported from.
IMPORTS = {"docs": (ROOT / "docs", "/docs/"), "crosslang": (DATA / "crosslang", "/team/")}
PG = "postgres://datacollection:datacollection@127.0.0.1:5432"
EMBEDDERS = ("minilm", "e5")
LEGS = ("bm25", "vector", "hybrid")  # BM25 alone does not depend on the embedder: a check of the runs
K = 5
# Passages timed for the embedding rate alone: ~40 s for e5 on one core, enough for a stable rate.
EMBED_SAMPLE = 48


def _environment(provider: str) -> None:
    database = os.environ.get("CROSSLANG_BENCH_DATABASE", "dc_crosslang")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datacollection.settings.test")
    os.environ["DATABASE_URL"] = f"{PG}/{database}"
    os.environ["KNOWLEDGE_INDEX_NAME"] = (
        f"{os.environ.get('CROSSLANG_BENCH_INDEX', 'crosslang-bench')}-{provider}"
    )
    os.environ["EMBEDDINGS_PROVIDER"] = provider
    # Every passage is embedded by the model, so the import rate is the model's, not the cache's.
    os.environ["EMBEDDINGS_CACHE"] = "none"
    # In-process tasks, so the import has indexed every page when it returns (as in benchmarks/rag.py).
    os.environ["CELERY_BROKER_URL"] = ""
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    os.environ.setdefault("CACHE_KEY_PREFIX", "crosslang")
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # not a line per page and task
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{database}"')


def _import() -> dict[str, Any]:
    from django.core.management import call_command

    from datacollection.celery import app
    from search.backends import get_search_backend

    app.loader.import_default_modules()  # the tasks the import queues by name, run in this process
    call_command("migrate", verbosity=0)
    backend = get_search_backend()
    backend.drop()
    started = time.perf_counter()
    for folder, parent in IMPORTS.values():
        call_command("import_markdown", str(folder), parent=parent, verbosity=0)
    seconds = time.perf_counter() - started
    count = backend.count()
    return {
        "passages": count,
        "import_seconds": round(seconds, 1),
        "passages_per_s": round(count / seconds, 2),
    }


def _indexed_chunks() -> list[Any]:
    from search.backends import get_search_backend

    backend = get_search_backend()
    return backend.get_chunks([state.chunk_id for state in backend.chunk_states()])


def _embedding_rate(chunks: list[Any]) -> dict[str, Any]:
    from search.services import index_embedder
    from search.values import embedding_text

    embedder = index_embedder()
    texts = [embedding_text(c) for c in chunks[:EMBED_SAMPLE]]
    started = time.perf_counter()
    embedder.embed_documents(texts)
    seconds = time.perf_counter() - started
    return {
        "sample": len(texts),
        "passages_per_s": round(len(texts) / seconds, 2),
        "model": embedder.identity,
    }


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _expected_source(expected: str) -> str:
    path = ROOT / expected
    for folder, _parent in IMPORTS.values():
        if path.is_relative_to(folder):
            return str(path.relative_to(folder))
    raise ValueError(f"{expected} is in none of the imported folders")


def _matches(chunk: Any, item: dict[str, Any]) -> bool:
    return bool(chunk.source_path == item["source"] and _normal(item["key"]) in _normal(chunk.text))


def _rank(chunks: list[Any], item: dict[str, Any]) -> int | None:
    """1-based rank of the first passage that answers `item` within the top 10, else None."""
    return next((rank for rank, chunk in enumerate(chunks[:10], start=1) if _matches(chunk, item)), None)


def _scores(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks)
    return {
        f"recall@{K}": round(sum(1 for r in ranks if r is not None and r <= K) / n, 3),
        "mrr@10": round(sum(1 / r for r in ranks if r is not None) / n, 3),
        "n": n,
    }


def _evaluate(items: list[dict[str, Any]], chunks: list[Any]) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from search.retrieval import TEXT_LEG, VECTOR_LEG
    from search.selectors import retrieval_search
    from search.values import Principal

    # A superuser sees every page, including the guide's login-only one: visibility is not measured here.
    user, _ = get_user_model().objects.get_or_create(
        username="crosslang-bench", defaults={"is_staff": True, "is_superuser": True}
    )
    principal = Principal.from_user(user)
    per_question = []
    for item in items:
        result = retrieval_search(item["question"], principal=principal, k=10)
        bm25 = [scored.chunk for scored in result.legs.get(TEXT_LEG, [])]
        vector = [scored.chunk for scored in result.legs.get(VECTOR_LEG, [])]
        hybrid = [hit.chunk for hit in result.hits]
        per_question.append(
            {
                "id": item["id"],
                "direction": item["direction"],
                "key_indexed": any(_matches(c, item) for c in chunks),
                "bm25_rank": _rank(bm25, item),
                "vector_rank": _rank(vector, item),
                "hybrid_rank": _rank(hybrid, item),
            }
        )
    groups: dict[str, list[dict[str, Any]]] = {"all": per_question}
    for row in per_question:
        groups.setdefault(row["direction"], []).append(row)
    metrics = {
        name: {leg: _scores([row[f"{leg}_rank"] for row in rows]) for leg in LEGS}
        for name, rows in groups.items()
    }
    return {"metrics": metrics, "questions": per_question}


def run_one(provider: str, output: Path) -> int:
    _environment(provider)
    import django

    django.setup()
    items = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    for item in items:
        item["source"] = _expected_source(item["expected"])
    report: dict[str, Any] = {"embedder": provider, "import": _import()}
    chunks = _indexed_chunks()
    report["embedding"] = _embedding_rate(chunks)
    report.update(_evaluate(items, chunks))
    missing = [row["id"] for row in report["questions"] if not row["key_indexed"]]
    if missing:  # a key string no indexed passage holds would make its question unanswerable
        print(f"{provider}: key strings not found in any indexed passage: {missing}", file=sys.stderr)
    output.write_text(json.dumps(report, indent=2))
    return 0


def _table(results: dict[str, Any]) -> str:
    lines = [f"{'direction':<10} {'leg':<7} " + " ".join(f"{p:>22}" for p in results)]
    directions = next(iter(results.values()))["metrics"]
    for direction in directions:
        for leg in LEGS:
            cells = []
            for report in results.values():
                m = report["metrics"][direction][leg]
                cells.append(f"R@{K} {m[f'recall@{K}']:.3f} MRR {m['mrr@10']:.3f}")
            lines.append(f"{direction:<10} {leg:<7} " + " ".join(f"{c:>22}" for c in cells))
    for provider, report in results.items():
        lines.append(
            f"{provider}: {report['import']['passages']} passages imported at "
            f"{report['import']['passages_per_s']} passages/s; embedding alone "
            f"{report['embedding']['passages_per_s']} passages/s"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedders", nargs="+", choices=EMBEDDERS, default=list(EMBEDDERS))
    parser.add_argument("--output", default=str(ROOT / "bench-results" / "crosslang.json"))
    parser.add_argument("--one", choices=EMBEDDERS, help=argparse.SUPPRESS)  # the per-embedder child
    parser.add_argument("--part", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        return run_one(args.one, Path(args.part))

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for provider in args.embedders:
            part = Path(scratch) / f"{provider}.json"
            argv_child = [
                sys.executable,
                "-m",
                "benchmarks.crosslang",
                "--one",
                provider,
                "--part",
                str(part),
            ]
            code = subprocess.call(argv_child)  # noqa: S603
            if code != 0:
                print(f"crosslang: the {provider} run failed ({code})", file=sys.stderr)
                return code
            results[provider] = json.loads(part.read_text())
    print(_table(results), file=sys.stderr)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps({"questions_file": str(QUESTIONS.relative_to(ROOT)), "results": results}, indent=2)
    )
    print(f"wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
