"""Retrieval quality, latency, indexing throughput and vector memory on Elasticsearch.

    python -m benchmarks.retrieval [--backend default] [--skip-wagtail] [--limit N]

Writes bench-results/retrieval.json. Embeddings of the evaluation corpora are cached under
var/cache/embeddings (git-ignored), so re-runs only pay for indexing and queries.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.paths import corpus, eval_dir

ROOT = Path(__file__).resolve().parent.parent
DBPEDIA = eval_dir("dbpedia-entity")
WAGTAIL_CORPUS = corpus("wagtail-docs")
WAGTAIL_QUESTIONS = eval_dir("wagtail-docs", "questions.jsonl")
CACHE_DIR = ROOT / "var" / "cache" / "embeddings"

# Fusions compared on the same candidates (each leg's top CANDIDATES). The default is what settings say.
VARIANTS: dict[str, dict[str, Any]] = {
    "rrf k=60": {"fusion": "rrf", "fusion_params": {}},
    "rrf k=60 knn×2": {"fusion": "rrf", "fusion_params": {"weights": {"knn": 2.0}}},
    "rrf k=60 knn×3": {"fusion": "rrf", "fusion_params": {"weights": {"knn": 3.0}}},
    "rrf k=20 knn×3": {"fusion": "rrf", "fusion_params": {"weights": {"knn": 3.0}, "k": 20}},
    **{
        f"convex minmax a={a}": {"fusion": "convex", "fusion_params": {"weights": {"knn": a, "bm25": 1 - a}}}
        for a in (0.5, 0.6, 0.7, 0.8, 0.9)
    },
    **{
        f"convex zscore a={a}": {
            "fusion": "convex",
            "fusion_params": {"weights": {"knn": a, "bm25": 1 - a}, "normalise": "zscore"},
        }
        for a in (0.5, 0.7, 0.9)
    },
    **{
        f"margin minmax base={b}": {
            "fusion": "adaptive_convex",
            "fusion_params": {"base_weight": b, "agreement": False},
        }
        for b in (0.1, 0.2, 0.3, 0.4)
    },
    **{
        f"overlap minmax base={b}": {"fusion": "agreement_convex", "fusion_params": {"base_weight": b}}
        for b in (0.2, 0.3, 0.4, 0.5)
    },
    **{
        f"margin×overlap minmax base={b}": {"fusion": "adaptive_convex", "fusion_params": {"base_weight": b}}
        for b in (0.2, 0.3, 0.4, 0.5, 0.6)
    },
    **{
        f"margin×overlap zscore base={b}": {
            "fusion": "adaptive_convex",
            "fusion_params": {"base_weight": b, "normalise": "zscore"},
        }
        for b in (0.2, 0.3, 0.4)
    },
}

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LABEL = re.compile(r"^\([^)]*\)=\s*$")
_FENCE = re.compile(r"^(```|~~~|:::)")


def markdown_sections(text: str) -> tuple[str, list[tuple[tuple[str, ...], str]]]:
    """(title, [(heading path below the title, section text)]): Markdown split at headings outside code."""
    title = ""
    path: list[tuple[int, str]] = []
    sections: list[tuple[tuple[str, ...], str]] = []
    lines: list[str] = []
    fence = ""

    def flush() -> None:
        body = "\n".join(lines).strip()
        if body:
            sections.append((tuple(h for _level, h in path), body))
        lines.clear()

    for line in text.splitlines():
        marker = _FENCE.match(line.strip())
        if marker:
            fence = "" if fence == marker.group(1) else (fence or marker.group(1))
        heading = None if fence else _HEADING.match(line)
        if heading:
            flush()
            level, name = len(heading.group(1)), heading.group(2).strip()
            if level == 1 and not title:
                title = name
                continue
            path = [(lv, h) for lv, h in path if lv < level] + [(level, name)]
        elif not _LABEL.match(line):
            lines.append(line)
    flush()
    return title, sections


def wagtail_dataset(embedder: Any) -> tuple[list[Any], dict[str, str], dict[str, dict[str, int]]]:
    from search.evaluation import WINDOW_OVERLAP
    from search.services import header_tokens
    from search.values import Chunk, text_hash

    chunks: list[Chunk] = []
    for number, path in enumerate(sorted(WAGTAIL_CORPUS.rglob("*.md")), start=1):
        relative = str(path.relative_to(WAGTAIL_CORPUS))
        title, sections = markdown_sections(path.read_text(encoding="utf-8"))
        for heading_path, body in sections:
            probe = Chunk(
                source_type="doc",
                source_id=number,
                chunk_id="",
                text="",
                title=title,
                heading_path=heading_path,
            )
            budget = embedder.max_tokens - header_tokens(probe, embedder=embedder)
            for window in embedder.split_windows(body, max_tokens=budget, overlap=WINDOW_OVERLAP):
                chunks.append(
                    Chunk(
                        source_type="doc",
                        source_id=number,
                        chunk_id=f"wd-{number}-{len(chunks)}",
                        text=window,
                        title=title or relative,
                        heading_path=heading_path,
                        source_path=relative,
                        content_hash=text_hash(window),
                    )
                )
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for line in WAGTAIL_QUESTIONS.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if not item.get("answerable"):
            continue
        queries[item["id"]] = item["question"]
        for rel in item["relevant"]:
            grades = qrels.setdefault(item["id"], {})
            grades[rel["path"]] = max(grades.get(rel["path"], 0), int(rel["grade"]))
    return chunks, queries, qrels


def vector_memory(backend: Any, count: int, dims: int) -> dict[str, Any]:
    """int8_hnsw needs in RAM (page cache) per vector: dims bytes + 4 (quantisation correction) for the
    quantised copy, and ~4·2·m bytes of level-0 HNSW links (m = 16); the float32 originals stay on disk
    (they are read only to re-score). Also the on-disk size from index stats."""
    m = 16
    if getattr(backend, "client", None) is None:  # the database backend: one float32 matrix in memory
        return {
            "method": "database backend: exact search over a float32 matrix held in process memory",
            "bytes_per_vector_ram": dims * 4,
        }
    stats = backend.client.indices.stats(index=backend.index_name, metric="store,segments")
    total = stats["_all"]["primaries"]
    return {
        "method": "computed from the int8_hnsw mapping: (dims + 4) bytes quantised + 2*m*4 bytes graph",
        "bytes_per_vector_ram": dims + 4 + 2 * m * 4,
        "bytes_per_vector_float32_on_disk": dims * 4,
        "index_store_bytes": total["store"]["size_in_bytes"],
        "index_store_bytes_per_chunk": round(total["store"]["size_in_bytes"] / max(1, count), 1),
        "segments_memory_bytes_reported": total["segments"].get("memory_in_bytes"),
    }


def evaluate_set(
    name: str,
    chunks: list[Any],
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    *,
    backend_alias: str,
    embedder: Any,
    limit: int | None,
    measure_memory: bool,
) -> dict[str, Any]:
    from tqdm import tqdm

    from search.evaluation import embed_with_disk_cache, index_corpus, run_queries, throwaway_backend
    from search.retrieval import RetrievalConfig

    vectors = embed_with_disk_cache(chunks, embedder=embedder, cache_dir=CACHE_DIR, progress=tqdm)
    result: dict[str, Any] = {"chunks": len(chunks), "queries": len([q for q in queries if q in qrels])}
    with throwaway_backend(backend_alias) as backend:
        started = time.perf_counter()
        index_corpus(chunks, vectors, backend=backend, dimensions=embedder.dimensions, progress=tqdm)
        result["index_seconds"] = round(time.perf_counter() - started, 2)
        result["index_chunks_per_s_precomputed_vectors"] = round(len(chunks) / result["index_seconds"], 1)
        if measure_memory:
            result["vector_memory"] = vector_memory(backend, len(chunks), embedder.dimensions)
        config = RetrievalConfig.from_settings()
        result["default_config"] = {
            "fusion": config.fusion,
            "params": dict(config.fusion_params),
            "candidates": config.candidates,
        }
        # One warm-up query so the first timed one does not pay for loading the model and index.
        run_queries(dict(list(queries.items())[:1]), qrels, backend=backend, embedder=embedder, limit=1)
        run = run_queries(
            queries, qrels, backend=backend, embedder=embedder, config=config, limit=limit, progress=tqdm
        )
        for variant, values in VARIANTS.items():
            run.refuse(variant, RetrievalConfig(candidates=config.candidates, **values))
        result["metrics"] = run.metrics(k=10)
    print(f"\n{name}", file=sys.stderr)
    from search.evaluation import format_table

    print(format_table(result["metrics"]), file=sys.stderr)
    return result


def embedding_throughput(embedder: Any, chunks: list[Any], sample: int = 300) -> dict[str, float]:
    from search.evaluation import embed_with_disk_cache

    part = chunks[:sample]
    started = time.perf_counter()
    embed_with_disk_cache(part, embedder=embedder, cache_dir=None)
    seconds = time.perf_counter() - started
    return {"sample_chunks": len(part), "embed_chunks_per_s": round(len(part) / seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="default")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--skip-wagtail", action="store_true")
    parser.add_argument("--output", default=str(ROOT / "bench-results" / "retrieval.json"))
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datacollection.settings.test")
    import django

    django.setup()
    from search.embedders import get_embedder
    from search.evaluation import corpus_chunks, load_beir

    embedder = get_embedder("default")
    inner = getattr(embedder, "inner", embedder)
    report: dict[str, Any] = {"embedder": inner.model_name, "backend": args.backend}

    dataset = load_beir(DBPEDIA)
    chunks = corpus_chunks(dataset, embedder=inner)
    report["embedding"] = embedding_throughput(inner, chunks)
    report["dbpedia-entity"] = evaluate_set(
        "dbpedia-entity",
        chunks,
        dict(dataset.queries),
        {q: dict(v) for q, v in dataset.qrels.items()},
        backend_alias=args.backend,
        embedder=inner,
        limit=args.limit,
        measure_memory=True,
    )
    db = report["dbpedia-entity"]
    embed_rate = report["embedding"]["embed_chunks_per_s"]
    index_rate = db["index_chunks_per_s_precomputed_vectors"]
    report["indexing"] = {
        "chunks_per_s_without_embedding": index_rate,
        "chunks_per_s_with_embedding": round(1 / (1 / embed_rate + 1 / index_rate), 1),
        "note": "with embedding = MiniLM embedding (measured on a fresh sample) followed by bulk indexing",
    }
    if not args.skip_wagtail:
        w_chunks, w_queries, w_qrels = wagtail_dataset(inner)
        report["wagtail-docs"] = evaluate_set(
            "wagtail-docs",
            w_chunks,
            w_queries,
            w_qrels,
            backend_alias=args.backend,
            embedder=inner,
            limit=args.limit,
            measure_memory=False,
        )
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2))
    print(f"wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
