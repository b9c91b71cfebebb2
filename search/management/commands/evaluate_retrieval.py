"""Evaluate retrieval on a BEIR-format directory through the chatbot's own pipeline.

    manage.py evaluate_retrieval DIR [--backend ALIAS] [--k 10] [--json] [--limit N]

DIR holds corpus.jsonl (_id, title, text), queries.jsonl (_id, text) and qrels/test.tsv (query-id,
corpus-id, graded score; the header line is optional). The corpus goes into a throwaway index that is
dropped afterwards (also on error or Ctrl-C).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from search.errors import KnowledgeError
from search.evaluation import (
    corpus_chunks,
    embed_with_disk_cache,
    format_table,
    index_corpus,
    load_beir,
    run_queries,
    throwaway_backend,
)
from search.rerankers import get_reranker
from search.retrieval import RetrievalConfig
from search.services import index_embedder


def _progress(iterable: Any, **kwargs: Any) -> Any:
    return tqdm(iterable, file=sys.stderr, leave=False, **kwargs)


class Command(BaseCommand):
    help = "Evaluate hybrid retrieval (nDCG@k, Recall@10/50, MRR@10, latency) on a BEIR-format dataset."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", help="BEIR dataset directory")
        parser.add_argument("--backend", default="default", help="KNOWLEDGE_SEARCH_BACKENDS alias")
        parser.add_argument("--k", type=int, default=10, help="cut-off of nDCG (default 10)")
        parser.add_argument(
            "--limit", type=int, default=None, help="evaluate only the first N judged queries"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
        parser.add_argument("--split", default="test", help="qrels file name (default test)")
        parser.add_argument(
            "--cache-dir",
            default=str(Path(settings.VAR_DIR) / "cache" / "embeddings"),
            help="where corpus embeddings are cached between runs",
        )
        parser.add_argument("--no-cache", action="store_true", help="embed the corpus again")

    def handle(self, *args: Any, **options: Any) -> None:
        directory = Path(options["directory"])
        for name in ("corpus.jsonl", "queries.jsonl", f"qrels/{options['split']}.tsv"):
            if not (directory / name).is_file():
                raise CommandError(f"{directory / name} not found: DIR must be a BEIR dataset.")
        try:
            dataset = load_beir(directory, split=options["split"])
        except (ValueError, KeyError) as e:
            raise CommandError(f"Cannot read the dataset in {directory}: {e}") from e
        embedder = index_embedder()
        reranker = get_reranker(str(settings.KNOWLEDGE_RETRIEVAL.get("RERANKER", "default")))
        config = RetrievalConfig.from_settings()
        cache_dir = None if options["no_cache"] else Path(options["cache_dir"])
        k = options["k"]
        try:
            chunks = corpus_chunks(dataset, embedder=embedder)
            started = time.perf_counter()
            vectors = embed_with_disk_cache(
                chunks, embedder=embedder, cache_dir=cache_dir, progress=_progress
            )
            embed_seconds = time.perf_counter() - started
            with throwaway_backend(options["backend"]) as backend:
                started = time.perf_counter()
                index_corpus(
                    chunks, vectors, backend=backend, dimensions=embedder.dimensions, progress=_progress
                )
                index_seconds = time.perf_counter() - started
                run = run_queries(
                    dataset.queries,
                    dataset.qrels,
                    backend=backend,
                    embedder=embedder,
                    reranker=reranker,
                    config=config,
                    depth=max(100, config.candidates),
                    limit=options["limit"],
                    progress=_progress,
                )
        except KnowledgeError as e:
            raise CommandError(f"Evaluation failed: {e.message}") from e
        metrics = run.metrics(k=k)
        self.stdout.write(
            f"{len(dataset.corpus)} documents → {len(chunks)} chunks (embedded in {embed_seconds:.1f} s, "
            f"indexed in {index_seconds:.1f} s); fusion {config.fusion}, "
            f"{config.candidates} candidates per leg"
        )
        self.stdout.write(format_table(metrics, k=k))
        if options["json"]:
            payload = {
                "dataset": str(directory),
                "backend": options["backend"],
                "documents": len(dataset.corpus),
                "chunks": len(chunks),
                "fusion": config.fusion,
                "candidates": config.candidates,
                "k": k,
                "systems": metrics,
            }
            self.stdout.write(json.dumps(payload))
