"""The scale benchmark (issue 20, items 3-4): synthetic corpora of 100k (and 1M) chunks bulk-loaded through
the backends' own writer, then latency with the permission filter on and recall of the kNN leg.

    SCALE_BENCH_SIZES=100000 .venv/bin/python -m benchmarks.scale          # or `make bench BENCH=scale`

Environment (all optional):
- SCALE_BENCH_SIZES: chunk counts, comma-separated (default "100000"; "1000000" when asked for).
- SCALE_BENCH_BACKENDS: "elasticsearch,postgresql" (default); PostgreSQL runs only at sizes up to
  SCALE_BENCH_DB_MAX (default 100000): its kNN is exact numpy over every visible row.
- SCALE_BENCH_VECTOR_TYPES: Elasticsearch `vector_index_type`s, each its own index (default "int8_hnsw",
  the product's; add "bbq_hnsw" to compare).
- SCALE_BENCH_QUERIES (default 200), SCALE_BENCH_RECALL_QUERIES (default 50).
- SCALE_BENCH_WRITERS: threads writing bulk requests at once (default 2: the engine indexes each request on
  one write thread, so one writer leaves the second core to merges alone).
- SCALE_BENCH_NUM_CANDIDATES: after the force-merge, the kNN leg's latency and recall at each of these
  fixed `num_candidates` (default "400,800,1600"; the backend's default is max(100, 4k), 400 for hybrid).
- SCALE_BENCH_FORCEMERGE=0 skips the force-merge to one segment (and the second round of measurements).
- SCALE_BENCH_KEEP=1 keeps the Elasticsearch index (its name is printed and written into the JSON).
- SCALE_BENCH_REUSE=<kept index alias>: no load; that index (of the one size and vector type given) is
  force-merged and measured again, into the JSON entry of the run that kept it (`after_forcemerge`). For
  1M chunks, whose merge takes longer than the rest of the run: load with SCALE_BENCH_FORCEMERGE=0
  SCALE_BENCH_KEEP=1, then reuse.

The corpus (benchmarks/scale_corpus.py) is built once per size under var/scale/. Every query runs as a
signed-in member of two groups (search_common.PRINCIPAL), so both legs carry the visibility filter.
Hybrid is the product's `search.retrieval.retrieve` (both legs at the configured candidates, fusion,
diversity; no re-ranker and no query expansion: they measure models, not the engine), with an embedder
that returns each query's precomputed vector. Results are merged into bench-results/scale.json by backend
and size, so runs of different sizes add up.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datacollection.settings.test")

import django

django.setup()

from benchmarks.scale_corpus import Query, ScaleCorpus  # noqa: E402
from benchmarks.scale_es import elasticsearch_run, kept_backend, merged_run  # noqa: E402
from benchmarks.search_common import DIMS, PRINCIPAL, throwaway_postgres, timed  # noqa: E402
from search.backends.base import BaseSearchBackend, IndexItem  # noqa: E402
from search.backends.database import DatabaseSearchBackend  # noqa: E402
from search.embedders.base import BaseEmbedder, Vectors  # noqa: E402
from search.retrieval import RetrievalConfig, clean_query, retrieve  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-results" / "scale.json"
# Chunks per index_chunks call: one bulk request of the Elasticsearch backend's BULK_BATCH_SIZE (500),
# and the database backend's batch; a progress line every LOG_EVERY chunks.
LOAD_SLICE = 500
LOG_EVERY = 50_000
BULK_GOAL = 2000  # chunks/s with precomputed vectors
P95_GOALS_MS = {100_000: 50, 1_000_000: 100}  # hybrid (and each leg) at that many chunks


def env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


class LookupEmbedder(BaseEmbedder):
    """The precomputed vector of each benchmark query (no model runs: this measures the engines)."""

    model_name = "scale-bench-synthetic"
    dimensions = DIMS
    max_tokens = 256

    def __init__(self, queries: Sequence[Query]) -> None:
        super().__init__("scale", {})
        # Keyed by the query as retrieve() embeds it (cleaned).
        self.vectors = {clean_query(q.text): np.asarray(q.vector, dtype=np.float32) for q in queries}

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        return np.stack([self.vectors[t] for t in texts])

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        return self.vectors[text]

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def bulk_load(backend: BaseSearchBackend, corpus: ScaleCorpus, *, model: str, writers: int = 1) -> float:
    """Write the corpus through `backend.index_chunks`, LOAD_SLICE chunks per call, from `writers` threads
    at once (as that many bulk workers would write; the engine indexes each request on its own write
    thread); returns seconds."""
    vectors = corpus.vectors()
    lock = threading.Lock()
    done = 0
    started = time.perf_counter()

    def slices() -> Iterator[list[IndexItem]]:
        batch: list[IndexItem] = []
        for i, chunk in enumerate(corpus.chunks()):
            batch.append(IndexItem(chunk=chunk, vector=vectors[i].tolist()))
            if len(batch) == LOAD_SLICE or i == corpus.size - 1:
                yield batch
                batch = []

    def write(batch: list[IndexItem]) -> None:
        nonlocal done
        written = backend.index_chunks(batch, dimensions=DIMS, model=model)
        with lock:
            before, done = done, done + written
            if before // LOG_EVERY != done // LOG_EVERY or done == corpus.size:
                rate = done / (time.perf_counter() - started)
                print(f"  loaded {done:,} chunks, {rate:,.0f}/s", flush=True)

    if writers <= 1:
        for batch in slices():
            write(batch)
    else:
        batches = slices()
        write(next(batches))  # alone: the first write creates the index
        with ThreadPoolExecutor(max_workers=writers) as pool:
            # At most 2 × writers slices built ahead, so a 1M corpus is never all in memory as objects.
            pending: set[Future[None]] = set()
            for batch in batches:
                if len(pending) >= 2 * writers:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        future.result()
                pending.add(pool.submit(write, batch))
            for future in pending:
                future.result()
    return time.perf_counter() - started


def latencies(
    backend: BaseSearchBackend, queries: Sequence[Query], *, embedder: LookupEmbedder
) -> dict[str, Any]:
    """p50/p95/p99 of each leg as hybrid runs it (k = the configured candidates) and of hybrid, k=10."""
    config = RetrievalConfig.from_settings()
    k = config.candidates
    text: list[Callable[[], Any]] = [
        partial(backend.search_text, q.text, principal=PRINCIPAL, k=k) for q in queries
    ]
    vector: list[Callable[[], Any]] = [
        partial(backend.search_vector, q.vector, principal=PRINCIPAL, k=k, model=embedder.identity)
        for q in queries
    ]
    hybrid: list[Callable[[], Any]] = [
        partial(
            retrieve,
            q.text,
            principal=PRINCIPAL,
            k=10,
            backend=backend,
            embedder=embedder,
            config=config,
            expanders=[],
        )
        for q in queries
    ]
    return {
        "loadavg_1min_before": round(os.getloadavg()[0], 2),
        "queries": len(queries),
        "leg_candidates_k": k,
        "fusion": config.fusion,
        "bm25": timed(text),
        "knn": timed(vector),
        "hybrid_k10": timed(hybrid),
    }


def postgres_run(corpus: ScaleCorpus, queries: Sequence[Query], embedder: LookupEmbedder) -> dict[str, Any]:
    from django.db import connections

    with throwaway_postgres() as alias:
        backend = DatabaseSearchBackend("bench", {"INDEX": "bench", "DATABASE": alias, "OPTIONS": {}})
        seconds = bulk_load(backend, corpus, model=embedder.identity)
        started = time.perf_counter()
        with connections[alias].cursor() as cursor:
            # Autovacuum would analyse the table soon after such a load; the planner needs the statistics.
            cursor.execute("ANALYZE search_indexedchunk")
            analyze = time.perf_counter() - started
            cursor.execute("SELECT pg_total_relation_size('search_indexedchunk')")
            size = int(cursor.fetchone()[0])
        started = time.perf_counter()
        backend.search_vector(queries[0].vector, principal=PRINCIPAL, k=10, model=embedder.identity)
        first_knn = time.perf_counter() - started  # loads the process's float32 matrix from the table
        result = {
            "chunks": backend.count(),
            "load_seconds": round(seconds, 1),
            "bulk_chunks_per_second": round(corpus.size / seconds, 1),
            "analyze_seconds": round(analyze, 2),
            "table_bytes_with_indexes": size,
            "table_bytes_per_chunk": round(size / corpus.size),
            "first_knn_query_seconds_matrix_load": round(first_knn, 2),
            "latency": latencies(backend, queries, embedder=embedder),
            "knn_recall": "1.0 by construction: exact cosine in numpy over the visible rows",
        }
    return result


def goals_check(run: dict[str, Any], size: int) -> dict[str, Any]:
    goal_p95 = P95_GOALS_MS.get(size)
    checks: dict[str, Any] = {}
    throughput = run.get("bulk_chunks_per_second")
    if throughput is not None:
        minimum = BULK_GOAL
        checks["bulk_chunks_per_second"] = {
            "goal_min": minimum,
            "measured": throughput,
            "met": throughput >= minimum,
        }
    if goal_p95 is not None:
        for name in ("hybrid_k10", "bm25", "knn"):
            measured = run["latency"][name]["p95_ms"]
            checks[f"{name}_p95_ms"] = {
                "goal_max": goal_p95,
                "measured": measured,
                "met": measured <= goal_p95,
            }
    return checks


def code_commit() -> str:
    """The checked-out commit the run measured ("" outside a git checkout)."""
    try:
        done = subprocess.run(  # fixed argv
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_1_5_15_at_start": [round(x, 2) for x in os.getloadavg()],
        "memory_total_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }


def report_merge(runs: dict[str, dict[str, Any]], header: dict[str, Any]) -> dict[str, Any]:
    """The previous scale.json with these runs put in (by backend, then size): a 1M run adds to 100k."""
    previous: dict[str, Any] = json.loads(OUT.read_text()) if OUT.exists() else {}
    merged = {**previous, **header}
    results: dict[str, Any] = previous.get("results", {})
    for backend, by_size in runs.items():
        results.setdefault(backend, {}).update(by_size)
    merged["results"] = results
    return merged


def remeasure(
    alias: str, sizes: list[int], vector_types: list[str], n_queries: int, n_recall: int, sweep: list[int]
) -> dict[str, Any]:
    """SCALE_BENCH_REUSE: the kept index `alias` merged and measured again, into its run's JSON entry."""
    if len(sizes) != 1 or len(vector_types) != 1:
        raise SystemExit("SCALE_BENCH_REUSE needs exactly one size and one vector type")
    (size,), (vector_type,) = sizes, vector_types
    report: dict[str, Any] = json.loads(OUT.read_text())
    run = report["results"][f"elasticsearch {vector_type}"][str(size)]
    if run.get("index_alias") != alias:
        raise SystemExit(f"{OUT} has no {size:,}-chunk run that kept {alias!r}")
    corpus = ScaleCorpus(size)
    queries = corpus.queries(n_queries)
    embedder = LookupEmbedder(queries)
    print(f"force-merging and measuring {alias} again ({size:,} chunks)", flush=True)
    run.update(
        merged_run(
            kept_backend(alias),
            corpus,
            queries[:n_recall],
            embedder=embedder,
            measure=partial(latencies, queries=queries, embedder=embedder),
            queries=queries,
            sweep=sweep,
        ),
        remeasured_at_utc=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        remeasured_commit=code_commit(),
    )
    run["goals_after_forcemerge"] = goals_check({"latency": run["after_forcemerge"]["latency"]}, size)
    print(json.dumps(run["after_forcemerge"]), flush=True)
    return report


def main() -> None:
    sizes = [int(s) for s in env_list("SCALE_BENCH_SIZES", "100000")]
    backends = env_list("SCALE_BENCH_BACKENDS", "elasticsearch,postgresql")
    vector_types = env_list("SCALE_BENCH_VECTOR_TYPES", "int8_hnsw")
    n_queries = int(os.environ.get("SCALE_BENCH_QUERIES", "200"))
    n_recall = int(os.environ.get("SCALE_BENCH_RECALL_QUERIES", "50"))
    db_max = int(os.environ.get("SCALE_BENCH_DB_MAX", "100000"))
    forcemerge = os.environ.get("SCALE_BENCH_FORCEMERGE", "1") != "0"
    keep = os.environ.get("SCALE_BENCH_KEEP") == "1"
    writers = int(os.environ.get("SCALE_BENCH_WRITERS", "2"))
    sweep = [int(v) for v in env_list("SCALE_BENCH_NUM_CANDIDATES", "400,800,1600")]
    header = {
        "benchmark": "scale",
        "last_run_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "last_run_commit": code_commit(),
        "machine": machine(),
        "dimensions": DIMS,
        "principal": "signed-in user in 2 groups: both legs carry the visibility filter",
        "corpus": (
            "benchmarks/scale_corpus.py: dbpedia-entity sentences shuffled and mixed; clustered unit vectors"
        ),
        "goals": {"bulk_chunks_per_second_min": BULK_GOAL, "p95_ms_max_by_chunks": P95_GOALS_MS},
    }
    runs: dict[str, dict[str, Any]] = {}
    if reuse := os.environ.get("SCALE_BENCH_REUSE"):
        OUT.write_text(
            json.dumps(remeasure(reuse, sizes, vector_types, n_queries, n_recall, sweep), indent=2) + "\n"
        )
        print(f"wrote {OUT}")
        return
    for size in sizes:
        corpus = ScaleCorpus(size)
        built = corpus.ensure()
        print(
            f"corpus {size:,}: {f'built in {built:.0f} s' if built else 'cached'} ({corpus.folder})",
            flush=True,
        )
        queries = corpus.queries(n_queries)
        embedder = LookupEmbedder(queries)
        run_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for vector_type in vector_types if "elasticsearch" in backends else ():
            name = f"elasticsearch {vector_type}"
            print(f"{name}, {size:,} chunks", flush=True)
            loadavg = [round(x, 2) for x in os.getloadavg()]
            run = elasticsearch_run(
                corpus,
                queries[:n_recall],
                embedder=embedder,
                vector_type=vector_type,
                forcemerge=forcemerge,
                keep=keep,
                load=partial(bulk_load, corpus=corpus, model=embedder.identity, writers=writers),
                measure=partial(latencies, queries=queries, embedder=embedder),
                queries=queries,
                sweep=sweep,
            )
            run.update(
                run_at_utc=run_at, commit=header["last_run_commit"], loadavg_at_start=loadavg, writers=writers
            )
            run["goals"] = goals_check(run, size)
            if "after_forcemerge" in run:  # what `reindex --rebuild` serves (it merges the new index)
                run["goals_after_forcemerge"] = goals_check(
                    {"latency": run["after_forcemerge"]["latency"]}, size
                )
            runs.setdefault(name, {})[str(size)] = run
            print(json.dumps(run), flush=True)
        if "postgresql" in backends and size <= db_max:
            print(f"postgresql database backend, {size:,} chunks", flush=True)
            loadavg = [round(x, 2) for x in os.getloadavg()]
            run = postgres_run(corpus, queries, embedder)
            run.update(run_at_utc=run_at, commit=header["last_run_commit"], loadavg_at_start=loadavg)
            run["goals"] = goals_check(run, size)
            runs.setdefault("postgresql database backend", {})[str(size)] = run
            print(json.dumps(run), flush=True)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(report_merge(runs, header), indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
