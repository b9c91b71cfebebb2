"""Retrieval evaluation on BEIR-format data, through the same pipeline the chatbot uses.

A corpus document becomes one or more public Chunks (its text split into windows that fit the
embedder, so every token is embedded); a document's rank is that of its best chunk.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from search.backends import get_search_backend
from search.backends.base import BaseSearchBackend, IndexItem, ScoredChunk
from search.embedders.base import BaseEmbedder, Vectors
from search.embedders.cache import CachedEmbedder
from search.metrics import mrr_at_k, ndcg_at_k, percentile, recall_at_k
from search.rerankers.base import BaseReranker
from search.retrieval import RetrievalConfig, fuse_legs, retrieve
from search.services import header_tokens
from search.values import Chunk, Hit, Principal, Visibility, embedding_text, text_hash

Progress = Callable[..., Any]  # tqdm-like: progress(iterable, total=..., desc=...) -> iterable

# Windows overlap by ~20% (56 of 256 word-pieces, the baseline's stride of 200), so a sentence cut at a
# window edge is whole in the next one.
WINDOW_OVERLAP = 56
# Chunks per bulk write while indexing an evaluation corpus (the backend batches further).
INDEX_BATCH = 500


@dataclass(frozen=True, kw_only=True)
class BeirDataset:
    corpus: Mapping[str, tuple[str, str]]  # doc id -> (title, text)
    queries: Mapping[str, str]
    qrels: Mapping[str, Mapping[str, int]]


def load_beir(directory: Path | str, *, split: str = "test") -> BeirDataset:
    directory = Path(directory)
    corpus: dict[str, tuple[str, str]] = {}
    with (directory / "corpus.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                doc = json.loads(line)
                corpus[str(doc["_id"])] = (doc.get("title") or "", doc.get("text") or "")
    queries: dict[str, str] = {}
    with (directory / "queries.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                query = json.loads(line)
                queries[str(query["_id"])] = query["text"]
    qrels: dict[str, dict[str, int]] = {}
    with (directory / "qrels" / f"{split}.tsv").open(encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            try:
                grade = int(float(parts[-1]))
            except ValueError:
                if number == 0:  # the optional header line
                    continue
                raise
            qrels.setdefault(parts[0], {})[parts[1]] = grade
    return BeirDataset(corpus=corpus, queries=queries, qrels=qrels)


def corpus_chunks(dataset: BeirDataset, *, embedder: BaseEmbedder) -> list[Chunk]:
    """Public chunks, one per window of each document's text; `source_path` is the BEIR doc id."""
    chunks: list[Chunk] = []
    for number, (doc_id, (title, text)) in enumerate(dataset.corpus.items(), start=1):
        probe = Chunk(source_type="beir", source_id=number, chunk_id="", text="", title=title)
        budget = embedder.max_tokens - header_tokens(probe, embedder=embedder)
        windows = embedder.split_windows(text, max_tokens=budget, overlap=WINDOW_OVERLAP) or [text]
        for position, window in enumerate(windows):
            chunks.append(
                Chunk(
                    source_type="beir",
                    source_id=number,
                    chunk_id=f"beir-{number}-{position}",
                    text=window,
                    title=title,
                    position=position,
                    source_path=doc_id,
                    visibility=Visibility.PUBLIC,
                    content_hash=text_hash(f"{title}\n{window}"),
                )
            )
    return chunks


def embed_with_disk_cache(
    chunks: Sequence[Chunk],
    *,
    embedder: BaseEmbedder,
    cache_dir: Path | None,
    batch: int = 256,
    progress: Progress | None = None,
) -> Vectors:
    """Embed chunks; with `cache_dir`, vectors are kept on disk per model and text hash, so re-running an
    evaluation embeds only texts it has not seen."""
    texts = [embedding_text(c) for c in chunks]
    keys = [text_hash(t) for t in texts]
    known: dict[str, Vectors] = {}
    folder: Path | None = None
    if cache_dir is not None:
        model = f"{getattr(embedder, 'model_name', 'model')}-{embedder.dimensions}".replace("/", "_")
        folder = Path(cache_dir) / model
        if (folder / "keys.npy").exists() and (folder / "vectors.npy").exists():
            stored_keys = np.load(folder / "keys.npy")
            stored = np.load(folder / "vectors.npy")
            if len(stored_keys) == len(stored):
                known = {str(k): stored[i] for i, k in enumerate(stored_keys)}
    missing = list(dict.fromkeys(k for k in keys if k not in known))
    text_of = dict(zip(keys, texts, strict=True))
    starts: Any = range(0, len(missing), batch)
    if progress is not None and missing:
        starts = progress(starts, total=len(starts), desc="embedding", unit="batch")
    for start in starts:
        part = missing[start : start + batch]
        for key, vector in zip(part, embedder.embed_documents([text_of[k] for k in part]), strict=True):
            known[key] = vector
    if folder is not None and missing:
        folder.mkdir(parents=True, exist_ok=True)
        order = list(known)
        np.save(folder / "keys.tmp.npy", np.asarray(order))
        np.save(folder / "vectors.tmp.npy", np.stack([known[k] for k in order]).astype(np.float32))
        (folder / "keys.tmp.npy").replace(folder / "keys.npy")
        (folder / "vectors.tmp.npy").replace(folder / "vectors.npy")
    if not keys:
        return np.zeros((0, embedder.dimensions), dtype=np.float32)
    return np.stack([known[k] for k in keys]).astype(np.float32)


def index_corpus(
    chunks: Sequence[Chunk],
    vectors: Vectors | None,
    *,
    backend: BaseSearchBackend,
    dimensions: int,
    progress: Progress | None = None,
) -> int:
    """Write chunks (with vectors, or without when `vectors` is None) in bulk batches."""
    starts: Any = range(0, len(chunks), INDEX_BATCH)
    if progress is not None:
        starts = progress(starts, total=len(starts), desc="indexing", unit="batch")
    written = 0
    for start in starts:
        items = [
            IndexItem(chunk=c, vector=None if vectors is None else vectors[start + i].tolist())
            for i, c in enumerate(chunks[start : start + INDEX_BATCH])
        ]
        written += backend.index_chunks(items, dimensions=dimensions)
    return written


@contextmanager
def throwaway_backend(alias: str = "default") -> Iterator[BaseSearchBackend]:
    """A backend on a fresh index, dropped afterwards, also on error or Ctrl-C."""
    backend = get_search_backend(alias, INDEX=f"eval-{uuid.uuid4().hex[:12]}")
    try:
        yield backend
    finally:
        backend.drop()


# --- running queries -----------------------------------------------------------------------------
def ranked_sources(results: Sequence[ScoredChunk] | Sequence[Hit]) -> list[str]:
    """Documents in the order of their best chunk (a chunk's `source_path`, else its source key)."""
    seen: dict[str, None] = {}
    for result in results:
        chunk = result.chunk
        seen.setdefault(chunk.source_path or chunk.source_key, None)
    return list(seen)


@dataclass(kw_only=True)
class SystemRun:
    rankings: dict[str, list[str]] = field(default_factory=dict)  # query id -> ranked doc ids
    latencies: list[float] = field(default_factory=list)  # seconds


@dataclass(kw_only=True)
class EvaluationRun:
    systems: dict[str, SystemRun]
    qrels: Mapping[str, Mapping[str, int]]
    legs: dict[str, Mapping[str, list[ScoredChunk]]] = field(default_factory=dict)  # query id -> legs

    def metrics(self, *, k: int = 10) -> dict[str, dict[str, float]]:
        return {name: system_metrics(run, self.qrels, k=k) for name, run in self.systems.items()}

    def refuse(self, name: str, config: RetrievalConfig) -> None:
        """Add a system fusing the recorded legs differently (no new queries: same candidates)."""
        run = SystemRun()
        for query_id, legs in self.legs.items():
            run.rankings[query_id] = ranked_sources(fuse_legs(legs, config=config))
        self.systems[name] = run


def system_metrics(
    run: SystemRun, qrels: Mapping[str, Mapping[str, int]], *, k: int = 10
) -> dict[str, float]:
    ids = [q for q in run.rankings if q in qrels]
    if not ids:
        return {}

    def mean(values: list[float]) -> float:
        return float(sum(values) / len(values))

    result = {
        f"ndcg@{k}": mean([ndcg_at_k(run.rankings[q], qrels[q], k) for q in ids]),
        "recall@10": mean([recall_at_k(run.rankings[q], qrels[q], 10) for q in ids]),
        "recall@50": mean([recall_at_k(run.rankings[q], qrels[q], 50) for q in ids]),
        "mrr@10": mean([mrr_at_k(run.rankings[q], qrels[q], 10) for q in ids]),
        "queries": float(len(ids)),
    }
    if run.latencies:
        result["p50_ms"] = percentile(run.latencies, 50) * 1000
        result["p95_ms"] = percentile(run.latencies, 95) * 1000
    return result


def run_queries(
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    backend: BaseSearchBackend,
    embedder: BaseEmbedder,
    reranker: BaseReranker | None = None,
    config: RetrievalConfig | None = None,
    depth: int = 100,
    limit: int | None = None,
    progress: Progress | None = None,
) -> EvaluationRun:
    """Every judged query through `search.retrieval.retrieve`, recording BM25 alone, vectors alone,
    hybrid (fused) and, with an enabled re-ranker, re-ranked. Latencies are measured without the query
    embedding cache (a cache hit would hide the model's cost)."""
    config = config or RetrievalConfig.from_settings()
    if isinstance(embedder, CachedEmbedder):
        embedder = embedder.inner
    names = ["bm25", "vector", "hybrid"] + (["reranked"] if reranker is not None and reranker.enabled else [])
    runs = {name: SystemRun() for name in names}
    evaluation = EvaluationRun(systems=runs, qrels=qrels)
    judged = [q for q in queries if q in qrels][: limit or None]
    iterable: Any = judged if progress is None else progress(judged, desc="queries", unit="query")
    for query_id in iterable:
        result = retrieve(
            queries[query_id],
            principal=Principal.anonymous(),
            k=depth,
            backend=backend,
            embedder=embedder,
            reranker=reranker,
            config=config,
        )
        timings = result.timings
        evaluation.legs[query_id] = result.legs
        runs["bm25"].rankings[query_id] = ranked_sources(result.legs["bm25"])
        runs["bm25"].latencies.append(timings["expand"] + timings["bm25"])
        runs["vector"].rankings[query_id] = ranked_sources(result.legs["knn"])
        runs["vector"].latencies.append(timings["expand"] + timings["embed"] + timings["knn"])
        runs["hybrid"].rankings[query_id] = ranked_sources(fuse_legs(result.legs, config=config))
        runs["hybrid"].latencies.append(timings["total"] - timings["rerank"])
        if "reranked" in runs:
            runs["reranked"].rankings[query_id] = ranked_sources(result.hits)
            runs["reranked"].latencies.append(timings["total"])
    return evaluation


def format_table(metrics: Mapping[str, Mapping[str, float]], *, k: int = 10) -> str:
    columns = [f"ndcg@{k}", "recall@10", "recall@50", "mrr@10", "p50_ms", "p95_ms"]
    width = max([len("system"), *(len(n) for n in metrics)])
    lines = ["system".ljust(width) + "".join(c.rjust(11) for c in columns)]
    for name, values in metrics.items():
        cells = []
        for column in columns:
            value = values.get(column)
            cells.append(
                (
                    "-" if value is None else f"{value:.1f}" if column.endswith("_ms") else f"{value:.4f}"
                ).rjust(11)
            )
        lines.append(name.ljust(width) + "".join(cells))
    return "\n".join(lines)
