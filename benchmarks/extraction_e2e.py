"""End to end throughput of text PDFs: what a worker does for an upload, file to searchable passages.

Per file: the sandboxed extraction, the production chunking (``source_chunks``) and
``search.services.chunks_write`` (embedding with the index embedder, then the index write) into a
throwaway index of the configured search backend, dropped afterwards: ``pages_per_minute``. The upload's
structural check runs in the web request, not in the worker, so it is timed on its own and reported
with the rest as ``pages_per_minute_with_upload_check``. The embedding cache is off: with
it, a second run only reads the first run's vectors back from Redis. Part of ``benchmarks/extraction.py``;
alone: ``python -m benchmarks.extraction_e2e``.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any


def bench_end_to_end(pdf_dir: Path, names: list[str]) -> dict[str, Any]:
    from django.conf import settings
    from django.test import override_settings

    from benchmarks.extraction import cpu_seconds, on_two_cores
    from knowledgebase.content import SourceContent, source_chunks
    from knowledgebase.extraction import extract_file
    from knowledgebase.validation import validate_upload
    from search import services as search_services
    from search.backends import get_search_backend
    from search.values import Visibility
    from search.visibility import Access

    index = f"bench-extraction-{uuid.uuid4().hex[:8]}"
    rows: list[dict[str, Any]] = []
    backends = {**settings.KNOWLEDGE_SEARCH_BACKENDS}
    backends["bench"] = {**backends["default"], "INDEX": index}
    embedders = {alias: {**params, "CACHE": "none"} for alias, params in settings.KNOWLEDGE_EMBEDDERS.items()}
    with override_settings(KNOWLEDGE_SEARCH_BACKENDS=backends, KNOWLEDGE_EMBEDDERS=embedders):
        backend = get_search_backend("bench")
        # The embedder loads its model once per worker process: not counted against the first file.
        search_services.index_embedder().embed_documents(["warm up"])
        try:
            for number, name in enumerate(names, start=1):
                path = pdf_dir / name
                checking = time.perf_counter()
                with path.open("rb") as handle:
                    validate_upload(handle, filename=path.name, size=path.stat().st_size)
                started, cpu = time.perf_counter(), cpu_seconds()
                document = extract_file(path, filename=path.name)
                extracted = time.perf_counter()
                content = SourceContent(
                    title=document.title or path.stem,
                    url=f"/documents/{number}/",
                    revision_id=1,
                    access=Access(visibility=Visibility.PUBLIC),
                    blocks=document.blocks,
                    stats={},
                )
                chunks = source_chunks("document", number, content)
                chunked = time.perf_counter()
                search_services.chunks_write(chunks, backend_alias="bench")
                done = time.perf_counter()
                rows.append(
                    {
                        "file": name,
                        "pages": document.pages,
                        "passages": len(chunks),
                        "upload_check_seconds": round(started - checking, 2),
                        "extract_seconds": round(extracted - started, 2),
                        "chunk_seconds": round(chunked - extracted, 2),
                        "embed_and_write_seconds": round(done - chunked, 2),
                        "seconds": round(done - started, 2),
                        "cpu_seconds": round(cpu_seconds() - cpu, 2),
                    }
                )
        finally:
            backend.drop()
    pages = sum(r["pages"] for r in rows)
    seconds = sum(r["seconds"] for r in rows)
    checks = sum(r["upload_check_seconds"] for r in rows)
    return {
        "what": "text PDFs through sandboxed extraction, chunking, embedding and the index write "
        f"(backend {type(backend).__name__}, throwaway index); the upload check timed apart",
        "files": rows,
        "pages": pages,
        "passages": sum(r["passages"] for r in rows),
        "seconds": round(seconds, 2),
        "seconds_by_step": {
            step: round(sum(r[f"{step}_seconds"] for r in rows), 2)
            for step in ("extract", "chunk", "embed_and_write")
        },
        "pages_per_minute": round(pages / seconds * 60, 1) if seconds else 0.0,
        "upload_check_seconds": round(checks, 2),
        "pages_per_minute_with_upload_check": round(pages / (seconds + checks) * 60, 1) if seconds else 0.0,
        "cpu_seconds": round(sum(r["cpu_seconds"] for r in rows), 2),
        "pages_per_minute_on_two_idle_cores": on_two_cores(pages, sum(r["cpu_seconds"] for r in rows)),
    }


if __name__ == "__main__":
    import json
    import os
    import sys

    import django

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datacollection.settings.test")
    django.setup()
    from benchmarks.extraction import PDF_DIR, TEXT_PDFS

    result = bench_end_to_end(PDF_DIR, TEXT_PDFS)
    print(json.dumps({k: v for k, v in result.items() if k != "files"}, indent=2))
