"""Throughput and latency of the knowledge search backends, plus BM25 quality of their text legs.

    .venv/bin/python -m benchmarks.search_backends [--chunks 5000] [--queries 100]

Chunks are the dbpedia-entity evaluation corpus (shared/eval, 5,000 real titles + abstracts) with random
384-dimensional unit vectors (no embedding: this measures the engines, not the model) and a mix of
visibilities, so every query runs with the visibility filter a signed-in group member gets. Measured:
- indexing throughput (chunks/s, one `index_chunks` call of everything, refresh included) on Elasticsearch
  (int8_hnsw and hnsw; bulk batch sizes 250/500/1000), the database backend on PostgreSQL and on SQLite;
- kNN and BM25 latency p50/p95 over `--queries` queries at that size (after a warm-up);
- nDCG@10 of the text leg on the 40 judged dbpedia queries (multi_match cross_fields, the default, and
  best_fields / most_fields on Elasticsearch; ts_rank on PostgreSQL; FTS5 bm25 on SQLite).

Elasticsearch and PostgreSQL are those of the test settings (scripts/services.sh); PostgreSQL gets a
throwaway database that is dropped at the end. Writes bench-results/search_backends.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datacollection.settings.test")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402

from benchmarks.search_common import (  # noqa: E402
    DIMS,
    PRINCIPAL,
    load_corpus,
    random_vectors,
    throwaway_postgres,
    timed,
)
from search.backends.base import BaseSearchBackend, IndexItem  # noqa: E402
from search.backends.database import DatabaseSearchBackend  # noqa: E402
from search.backends.elasticsearch import ElasticsearchSearchBackend  # noqa: E402
from search.models import IndexAlias, IndexedChunk  # noqa: E402
from search.values import Chunk, Principal  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-results" / "search_backends.json"


def ndcg_at_10(ranked: list[str], grades: dict[str, int]) -> float:
    dcg = sum(grades.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted(grades.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


Data = tuple[list[Chunk], np.ndarray, list[tuple[str, str]], dict[str, dict[str, int]]]


def measure(backend: BaseSearchBackend, data: Data, *, n_queries: int) -> dict[str, Any]:
    chunks, vectors, queries, qrels = data
    items = [IndexItem(chunk=c, vector=v.tolist()) for c, v in zip(chunks, vectors, strict=True)]
    started = time.perf_counter()
    backend.index_chunks(items, dimensions=DIMS)
    elapsed = time.perf_counter() - started
    query_vectors = random_vectors(n_queries, seed=99)
    texts = [queries[i % len(queries)][1] for i in range(n_queries)]
    knn = timed(
        [partial(backend.search_vector, v.tolist(), principal=PRINCIPAL, k=10) for v in query_vectors]
    )
    bm25 = timed([partial(backend.search_text, t, principal=PRINCIPAL, k=10) for t in texts])
    return {
        "chunks": backend.count(),
        "index_seconds": round(elapsed, 2),
        "chunks_per_second": round(len(items) / elapsed, 1),
        "knn_k10": knn,
        "bm25_k10": bm25,
        "bm25_ndcg@10": text_quality(backend, queries, qrels),
    }


def text_quality(
    backend: BaseSearchBackend, queries: list[tuple[str, str]], qrels: dict[str, dict[str, int]]
) -> float:
    # Quality is judged on what everyone can see: the superuser sees all but others' own files, so the
    # corpus's owner-only tenth is left out for everyone alike.
    everyone = Principal(user_id=0, is_superuser=True)
    scores = [
        ndcg_at_10(
            [h.chunk.chunk_id for h in backend.search_text(text, principal=everyone, k=10)], qrels[qid]
        )
        for qid, text in queries
        if qid in qrels
    ]
    return round(statistics.fmean(scores), 3)


def elasticsearch_runs(args: argparse.Namespace, data: Data) -> dict[str, Any]:
    urls = settings.KNOWLEDGE_SEARCH_BACKENDS["default"].get("URLS") or ["http://127.0.0.1:9200"]
    variants: dict[str, dict[str, Any]] = {
        "int8_hnsw, batch 500": {"vector_index_type": "int8_hnsw", "batch_size": 500},
        "hnsw, batch 500": {"vector_index_type": "hnsw", "batch_size": 500},
        "int8_hnsw, batch 250": {"vector_index_type": "int8_hnsw", "batch_size": 250},
        "int8_hnsw, batch 1000": {"vector_index_type": "int8_hnsw", "batch_size": 1000},
    }
    results: dict[str, Any] = {}
    for name, options in variants.items():
        backend = ElasticsearchSearchBackend(
            "bench",
            {"URLS": urls, "INDEX": f"bench-{uuid.uuid4().hex[:8]}", "TIMEOUT": 60, "OPTIONS": options},
        )
        try:
            results[name] = measure(backend, data, n_queries=args.queries)
            if name.startswith("int8_hnsw, batch 500"):
                for kind in ("best_fields", "most_fields"):  # the default is cross_fields
                    backend.multi_match_type = kind
                    results[name][f"bm25_ndcg@10 ({kind})"] = text_quality(backend, data[2], data[3])
        finally:
            backend.drop()
        print(f"elasticsearch {name}: {json.dumps(results[name])}", flush=True)
    return results


@contextmanager
def throwaway_sqlite() -> Iterator[str]:
    alias = "bench_sqlite"
    with tempfile.TemporaryDirectory() as folder:
        connections.settings[alias] = connections.configure_settings(
            {
                "default": connections.settings["default"],
                alias: {"ENGINE": "django.db.backends.sqlite3", "NAME": str(Path(folder) / "bench.sqlite3")},
            }
        )[alias]
        with connections[alias].schema_editor() as editor:
            editor.create_model(IndexAlias)
            editor.create_model(IndexedChunk)
        try:
            yield alias
        finally:
            connections[alias].close()
            del connections[alias]


def database_runs(args: argparse.Namespace, data: Data) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, database in (("postgresql", throwaway_postgres), ("sqlite", throwaway_sqlite)):
        with database() as alias:
            backend = DatabaseSearchBackend("bench", {"INDEX": "bench", "DATABASE": alias, "OPTIONS": {}})
            results[name] = measure(backend, data, n_queries=args.queries)
        print(f"database {name}: {json.dumps(results[name])}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    chunks, queries, qrels = load_corpus(args.chunks)
    data = (chunks, random_vectors(len(chunks), seed=1), queries, qrels)
    report = {
        "benchmark": "search_backends",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "chunks": len(chunks),
        "dimensions": DIMS,
        "queries": args.queries,
        "principal": "signed-in user in 2 groups (visibility filter active)",
        "elasticsearch": elasticsearch_runs(args, data),
        "database": database_runs(args, data),
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
