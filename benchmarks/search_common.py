"""What the search benchmarks share (search_backends, scale): the dbpedia-entity corpus with a mix of
visibilities, random unit vectors, the asking principal, latency percentiles and a throwaway PostgreSQL
database. Import it after `django.setup()` (it imports the search models)."""

from __future__ import annotations

import json
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from django.db import connections

from benchmarks.paths import eval_dir
from search.models import IndexAlias, IndexedChunk
from search.values import Chunk, Principal, Visibility, text_hash

EVAL = eval_dir("dbpedia-entity")
DIMS = 384
# A signed-in member of two groups: every query runs with the visibility filter such a user gets.
PRINCIPAL = Principal(user_id=3, group_ids=frozenset({1, 2}))


def load_corpus(limit: int) -> tuple[list[Chunk], list[tuple[str, str]], dict[str, dict[str, int]]]:
    """The first `limit` dbpedia-entity documents as chunks (70 % public, 10 % login, 10 % one group, 10 %
    one owner), the queries (id, text) and their graded judgements."""
    rng = random.Random(7)  # noqa: S311 - a reproducible mix, not a secret
    chunks = []
    with (EVAL / "corpus.jsonl").open() as f:
        for position, line in enumerate(f):
            if position >= limit:
                break
            doc = json.loads(line)
            roll = rng.random()
            visibility, owner = Visibility.PUBLIC, None
            groups: tuple[int, ...] = ()
            if roll > 0.9:
                visibility, owner = Visibility.OWNER, rng.randint(1, 5)
            elif roll > 0.8:
                visibility, groups = Visibility.GROUPS, (rng.randint(1, 4),)
            elif roll > 0.7:
                visibility = Visibility.LOGIN
            chunks.append(
                Chunk(
                    source_type="page",
                    source_id=position,
                    chunk_id=doc["_id"],
                    text=doc["text"],
                    title=doc["title"],
                    heading_path=(doc["title"],),
                    content_hash=text_hash(doc["text"]),
                    visibility=visibility,
                    group_ids=groups,
                    owner_id=owner,
                    context=doc["text"],
                )
            )
    queries = [(q["_id"], q["text"]) for q in map(json.loads, (EVAL / "queries.jsonl").open())]
    qrels: dict[str, dict[str, int]] = {}
    for line in list((EVAL / "qrels" / "test.tsv").open())[1:]:
        qid, doc_id, grade = line.rstrip("\n").split("\t")
        qrels.setdefault(qid, {})[doc_id] = int(grade)
    return chunks, queries, qrels


def random_vectors(n: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIMS)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": rank(0.95),
        "p99_ms": rank(0.99),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


def timed(calls: list[Callable[[], Any]], warmup: int = 5) -> dict[str, float]:
    """Percentiles of each call's wall time, after running the first `warmup` calls once untimed."""
    for call in calls[:warmup]:
        call()
    samples = []
    for call in calls:
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A fresh PostgreSQL database with only the search tables (as migrations 0001/0002 make them), as a
    connection alias; dropped at the end."""
    base = connections["default"]
    name = f"bench_search_{uuid.uuid4().hex[:8]}"
    with base.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    alias = "bench_pg"
    connections.settings[alias] = {**base.settings_dict, "NAME": name}
    try:
        with connections[alias].schema_editor() as editor:
            editor.create_model(IndexAlias)
            editor.create_model(IndexedChunk)
            editor.execute(
                "CREATE INDEX search_chunk_fts_gin ON search_indexedchunk USING gin (search_vector)"
            )
        yield alias
    finally:
        connections[alias].close()
        del connections[alias]
        with base.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
