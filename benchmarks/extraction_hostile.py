"""Verdicts on the hostile and awkward file set (tests/fixtures/hostile.py) through the production path.

Each file goes through ``knowledgebase.extraction_report.file_report`` (upload validation, the sandboxed
extraction, the production chunking: what ``manage.py extract`` runs). A verdict is "refused" with a
reason or "ingested"; anything else that escapes is a crash. Part of ``benchmarks/extraction.py``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any


def bench_hostile() -> dict[str, Any]:
    from knowledgebase.extraction_report import file_report
    from tests.fixtures.hostile import awkward_set, hostile_set

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        files = hostile_set(Path(tmp) / "hostile") + awkward_set(Path(tmp) / "awkward")
        for name, path, expected in files:
            started = time.perf_counter()
            try:
                report = file_report(path)
            except Exception as e:  # noqa: BLE001 - a crash is what this counts
                rows.append({"file": name, "expected": expected, "verdict": "crash", "error": repr(e)[:300]})
                continue
            verdict = "ingested" if report.status == "ok" else "refused"
            rows.append(
                {
                    "file": name,
                    "bytes": path.stat().st_size,
                    "expected": expected,
                    "verdict": verdict,
                    "code": report.code,
                    "reason": report.reason,
                    "warnings": report.warnings,
                    "passages": len(report.passages),
                    "seconds": round(time.perf_counter() - started, 2),
                    "extraction_peak_rss_mb": report.peak_rss_mb,
                    "command_peak_rss_mb": report.command_rss_mb,
                }
            )
    verdicts = [row["verdict"] for row in rows]
    return {
        "what": "generated hostile/awkward files: validation, sandboxed extraction, chunking",
        "files": rows,
        "total": len(rows),
        "refused_with_reason": sum(1 for r in rows if r["verdict"] == "refused" and r.get("reason")),
        "ingested": verdicts.count("ingested"),
        "crashes": verdicts.count("crash"),
        "unexpected": [r["file"] for r in rows if r["verdict"] != r["expected"]],
        "slowest_verdict_seconds": max((r.get("seconds", 0.0) for r in rows), default=0.0),
        "max_extraction_peak_rss_mb": max((r.get("extraction_peak_rss_mb", 0.0) for r in rows), default=0.0),
        "max_command_peak_rss_mb": max((r.get("command_peak_rss_mb", 0.0) for r in rows), default=0.0),
    }


def bench_production_text_pdfs(pdf_dir: Path, names: list[str]) -> dict[str, Any]:
    """Pages per minute through the production path (sandbox, settings' limits, chunking; no embedding)."""
    from knowledgebase.extraction_report import file_report

    pages, seconds, peak = 0, 0.0, 0.0
    for name in names:
        report = file_report(pdf_dir / name)
        pages += report.pages
        seconds += report.seconds
        peak = max(peak, report.peak_rss_mb)
    return {
        "what": "the text-layer PDFs again, through validation + sandbox + chunking (OCR of images on)",
        "pages": pages,
        "seconds": round(seconds, 2),
        "pages_per_minute": round(pages / seconds * 60, 1) if seconds else 0.0,
        "max_extraction_peak_rss_mb": peak,
    }
