"""The Elasticsearch half of the scale benchmark (benchmarks/scale.py): a throwaway index loaded through
the backend's `index_chunks`, its size on disk and per vector, refresh and force-merge times, latency and
recall@k of the kNN leg (with the product's rescoring, and without) against exact search."""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from itertools import islice
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings

from benchmarks.scale_corpus import Query, ScaleCorpus
from benchmarks.search_common import DIMS, PRINCIPAL, timed
from search.backends.base import IndexItem
from search.backends.elasticsearch import ElasticsearchSearchBackend, query_filters
from search.backends.elasticsearch.bulk import bulk_operations

# Recall of the kNN leg at k=10 (what a plain vector search returns) and at the hybrid's k=100.
RECALL_KS = (10, 100)
# The exact search: the core-only distribution has no Painless, so no script_score; numpy scores the
# visible rows of the cached vectors instead, EXACT_BLOCK rows at a time (~150 MB of float32).
EXACT_BLOCK = 100_000
VISIBLE_PAGE = 10_000  # ids per request when listing the visible chunks (the engine's max result window)


def index_stats(backend: ElasticsearchSearchBackend) -> dict[str, Any]:
    """Size on disk (`_stats`), segments, and the vector field's share (`_disk_usage`, which reads every
    segment). Elasticsearch 8.19 reports no off-heap memory per field, so the RAM the HNSW search wants
    resident (quantized vectors + graph) is estimated as the field's bytes minus its float32 copies, which
    only rescoring and exact search read."""
    client = backend.client
    index = next(iter(client.indices.get_alias(name=backend.index_name)))
    stats = client.indices.stats(index=index, metric="store,segments,docs,dense_vector")
    primaries = stats["indices"][index]["primaries"]
    with warnings.catch_warnings():  # "technical preview" since 7.15
        warnings.simplefilter("ignore")
        usage = client.indices.disk_usage(index=index, run_expensive_tasks=True)[index]
    vector_bytes = int(usage["fields"]["vector"]["knn_vectors_in_bytes"])
    count = int(primaries["docs"]["count"])
    float_bytes = 4 * DIMS * count
    field = client.indices.get_field_mapping(index=index, fields="vector", include_defaults=True)
    options = field[index]["mappings"]["vector"]["mapping"]["vector"].get("index_options", {})
    return {
        "concrete_index": index,
        "vector_index_options": options,
        "docs": count,
        "store_bytes": int(primaries["store"]["size_in_bytes"]),
        "store_bytes_per_chunk": round(int(primaries["store"]["size_in_bytes"]) / max(1, count)),
        "segments": int(primaries["segments"]["count"]),
        "vector_field_bytes_on_disk": vector_bytes,
        "vector_field_bytes_per_vector": round(vector_bytes / max(1, count)),
        "float32_copies_bytes_per_vector": 4 * DIMS,
        "hnsw_resident_bytes_per_vector_estimate": round((vector_bytes - float_bytes) / max(1, count)),
        "segments_memory_heap_bytes": int(primaries["segments"].get("memory_in_bytes", 0)),
    }


def visible_rows(backend: ElasticsearchSearchBackend) -> npt.NDArray[np.int64]:
    """The corpus rows PRINCIPAL may see, as the engine's own filter selects them (chunk "scale-<row>")."""
    rows: list[int] = []
    after: list[Any] | None = None
    while True:
        response = backend.client.search(
            index=backend.index_name,
            query={"bool": {"filter": query_filters(PRINCIPAL, None)}},
            source=False,
            sort=[{"chunk_id": "asc"}],
            size=VISIBLE_PAGE,
            search_after=after,
        )
        hits = response["hits"]["hits"]
        rows += [int(hit["_id"].removeprefix("scale-")) for hit in hits]
        if len(hits) < VISIBLE_PAGE:
            return np.sort(np.array(rows, dtype=np.int64))
        after = hits[-1]["sort"]


def exact_top(
    vectors: npt.NDArray[np.float32], rows: npt.NDArray[np.int64], query: list[float], k: int
) -> set[str]:
    """The true top k by cosine (unit vectors: dot product) among `rows`, in float32 numpy."""
    best: list[tuple[float, int]] = []
    q = np.asarray(query, dtype=np.float32)
    for start in range(0, len(rows), EXACT_BLOCK):
        block = rows[start : start + EXACT_BLOCK]
        scores = np.asarray(vectors[block]) @ q
        top = np.argpartition(-scores, min(k, len(block) - 1))[:k]
        best += [(float(scores[i]), int(block[i])) for i in top]
    best.sort(reverse=True)
    return {f"scale-{row}" for _, row in best[:k]}


def knn_recall(
    backend: ElasticsearchSearchBackend,
    queries: Sequence[Query],
    exact: Sequence[set[str]],
    *,
    k: int,
    model: str,
) -> float:
    """Mean share of each query's exact top k that the kNN leg returns at k."""
    found = [
        {h.chunk.chunk_id for h in backend.search_vector(q.vector, principal=PRINCIPAL, k=k, model=model)}
        for q in queries
    ]
    scores = [len(f & e) / max(1, len(e)) for f, e in zip(found, exact, strict=True)]
    return round(sum(scores) / len(scores), 4)


def recall(
    backend: ElasticsearchSearchBackend, queries: Sequence[Query], *, corpus: ScaleCorpus, model: str
) -> dict[str, Any]:
    """Mean recall@k of the kNN leg against exact search over the same filter, with the backend's
    rescoring and without."""
    rows = visible_rows(backend)
    vectors = corpus.vectors()
    exact = {k: [exact_top(vectors, rows, q.vector, k) for q in queries] for k in RECALL_KS}
    rescore = backend.rescore_oversample
    result: dict[str, Any] = {
        "queries": len(queries),
        "visible_chunks": len(rows),
        "num_candidates": "backend default: max(100, 4k)",
        "exact": "float32 cosine in numpy over the chunks the engine's visibility filter returns",
    }
    try:
        # Without rescore_vector in the query the mapping's default applies: none for int8_hnsw, oversample
        # 3.0 for bbq_hnsw (Elasticsearch 8.19; see index.vector_index_options).
        for label, oversample in ((f"rescored x{rescore:g}", rescore), ("no query rescore_vector", 0.0)):
            backend.rescore_oversample = oversample
            for k in RECALL_KS:
                result[f"recall@{k} ({label})"] = knn_recall(backend, queries, exact[k], k=k, model=model)
    finally:
        backend.rescore_oversample = rescore
    return result


def candidates_sweep(
    backend: ElasticsearchSearchBackend,
    queries: Sequence[Query],
    recall_queries: Sequence[Query],
    *,
    corpus: ScaleCorpus,
    model: str,
    values: Sequence[int],
) -> dict[str, Any]:
    """The kNN leg as hybrid runs it (k = 100, the backend's rescoring) at each fixed `num_candidates`:
    latency and recall@10/@100 against exact search. One merged graph is searched once with that many
    candidates where N segments were each searched with it, so a merge trades recall for speed unless
    the candidates grow; this shows by how much."""
    rows = visible_rows(backend)
    vectors = corpus.vectors()
    exact = {k: [exact_top(vectors, rows, q.vector, k) for q in recall_queries] for k in RECALL_KS}
    saved = backend.options.get("num_candidates")
    result: dict[str, Any] = {}
    try:
        for value in values:
            backend.options["num_candidates"] = value
            calls: list[Callable[[], Any]] = [
                partial(backend.search_vector, q.vector, principal=PRINCIPAL, k=100, model=model)
                for q in queries
            ]
            entry: dict[str, Any] = {"knn_k100": timed(calls)}
            for k in RECALL_KS:
                entry[f"recall@{k}"] = knn_recall(backend, recall_queries, exact[k], k=k, model=model)
            result[str(value)] = entry
    finally:
        if saved is None:
            backend.options.pop("num_candidates", None)
        else:
            backend.options["num_candidates"] = saved
    return result


def writer_cost(backend: ElasticsearchSearchBackend, corpus: ScaleCorpus, n: int = 1000) -> dict[str, Any]:
    """Client-side milliseconds per chunk to build the bulk actions (bulk.bulk_operations) of the first `n`
    chunks, with the application-side stemmed copies the backend adds (search.analysis) and without: where
    the load's time goes besides the engine."""
    vectors = corpus.vectors()
    items = [IndexItem(chunk=c, vector=vectors[i].tolist()) for i, c in islice(enumerate(corpus.chunks()), n)]
    result: dict[str, Any] = {"chunks": len(items)}
    for label, analyzer in (("with_stemmed_fields", backend.analyzer), ("without_stemmed_fields", None)):
        started = time.perf_counter()
        bulk_operations(items, analyzer=analyzer)
        result[f"ms_per_chunk_{label}"] = round((time.perf_counter() - started) * 1000 / len(items), 3)
    return result


def merged_run(
    backend: ElasticsearchSearchBackend,
    corpus: ScaleCorpus,
    recall_queries: Sequence[Query],
    *,
    embedder: Any,
    measure: Callable[[ElasticsearchSearchBackend], dict[str, Any]],
    queries: Sequence[Query],
    sweep: Sequence[int],
) -> dict[str, Any]:
    """Force-merge the index to one segment (as `reindex --rebuild` serves it), then measure it again."""
    started = time.perf_counter()
    backend.client.options(request_timeout=3 * 3600).indices.forcemerge(
        index=backend.index_name, max_num_segments=1
    )
    seconds = time.perf_counter() - started
    after: dict[str, Any] = {
        "index": index_stats(backend),
        "latency": measure(backend),
        "knn_recall": recall(backend, recall_queries, corpus=corpus, model=embedder.identity),
    }
    if sweep:
        after["num_candidates_sweep"] = candidates_sweep(
            backend, queries, recall_queries, corpus=corpus, model=embedder.identity, values=sweep
        )
    return {
        "forcemerge_to_1_segment_seconds": round(seconds, 1),
        "after_forcemerge": after,
    }


def kept_backend(alias: str) -> ElasticsearchSearchBackend:
    """The backend of an index an earlier run kept (SCALE_BENCH_KEEP=1)."""
    urls = settings.KNOWLEDGE_SEARCH_BACKENDS["default"].get("URLS") or ["http://127.0.0.1:9200"]
    return ElasticsearchSearchBackend("scale", {"URLS": urls, "INDEX": alias, "TIMEOUT": 120, "OPTIONS": {}})


def elasticsearch_run(
    corpus: ScaleCorpus,
    recall_queries: Sequence[Query],
    *,
    embedder: Any,
    vector_type: str,
    forcemerge: bool,
    keep: bool,
    load: Callable[[ElasticsearchSearchBackend], float],
    measure: Callable[[ElasticsearchSearchBackend], dict[str, Any]],
    queries: Sequence[Query] = (),
    sweep: Sequence[int] = (),
) -> dict[str, Any]:
    urls = settings.KNOWLEDGE_SEARCH_BACKENDS["default"].get("URLS") or ["http://127.0.0.1:9200"]
    # refresh off while loading, one timed refresh after it (as `reindex --rebuild` refreshes once).
    options = {"vector_index_type": vector_type, "refresh": False}
    name = f"scale-bench-{uuid.uuid4().hex[:8]}"
    backend = ElasticsearchSearchBackend(
        "scale", {"URLS": urls, "INDEX": name, "TIMEOUT": 120, "OPTIONS": options}
    )
    run: dict[str, Any] = {"index_alias": name, "vector_index_type": vector_type, "options": options}
    try:
        seconds = load(backend)
        run.update(load_seconds=round(seconds, 1), bulk_chunks_per_second=round(corpus.size / seconds, 1))
        started = time.perf_counter()
        backend.client.indices.refresh(index=name)
        run["refresh_seconds"] = round(time.perf_counter() - started, 2)
        run["chunks"] = backend.count()
        run["bulk_actions_client_cost"] = writer_cost(backend, corpus)
        run["index"] = index_stats(backend)
        run["latency"] = measure(backend)
        run["knn_recall"] = recall(backend, recall_queries, corpus=corpus, model=embedder.identity)
        if forcemerge:
            run.update(
                merged_run(
                    backend,
                    corpus,
                    recall_queries,
                    embedder=embedder,
                    measure=measure,
                    queries=queries,
                    sweep=sweep,
                )
            )
    finally:
        if keep:
            print(f"  kept index {name}", flush=True)
        else:
            backend.drop()
    run["index_kept"] = keep
    return run
