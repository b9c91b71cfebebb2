"""Extraction throughput: text PDFs, OCR of scanned pages, Markdown, and the sandbox's overhead; the
verdicts on the hostile/awkward file set (benchmarks/extraction_hostile.py); and fidelity, the key
strings, headings and page numbers that reach the stored passages (benchmarks/extraction_fidelity.py).

    python -m benchmarks.extraction [--scanned-pages 6] [--skip-hostile] [--skip-fidelity]

Writes bench-results/extraction.json. Needs nothing but the shared corpus
(benchmarks/paths.py: $SHARED_DIR/corpus, by default ../shared/corpus), tesseract and poppler.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess  # fixed argv
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from benchmarks.paths import corpus

ROOT = Path(__file__).resolve().parent.parent
PDF_DIR = corpus("pdf-samples")
MARKDOWN_DIR = corpus("wagtail-docs")
OUTPUT = ROOT / "bench-results" / "extraction.json"

# PDFs with a text layer (the others are refused or are pictures without text).
TEXT_PDFS = [
    "001-trivial/minimal-document.pdf",
    "002-trivial-libre-office-writer/002-trivial-libre-office-writer.pdf",
    "004-pdflatex-4-pages/pdflatex-4-pages.pdf",
    "006-pdflatex-outline/pdflatex-outline.pdf",
    "009-pdflatex-geotopo/GeoTopo-komprimiert.pdf",
    "011-google-doc-document/google-doc-document.pdf",
    "014-outlines/mistitled_outlines_example.pdf",
    "021-pdfa/crazyones-pdfa.pdf",
    "026-latex-multicolumn/multicolumn.pdf",
]
WORDS = (
    "invoice travel policy refund manager approval hotel budget receipt expense booking train flight "
    "meeting employee contract holiday request office security password laptop network support"
).split()


def _scanned_pdf(path: Path, *, pages: int, seed: int = 7) -> list[str]:
    """A4 pages at 150 dpi with 30 lines of text each, as pictures only; returns the words written."""
    rng = random.Random(seed)  # noqa: S311 - reproducible filler text, not secrets
    font = ImageFont.load_default(size=30)
    images, written = [], []
    for _ in range(pages):
        image = Image.new("L", (1240, 1754), 255)
        draw = ImageDraw.Draw(image)
        for line in range(30):
            words = [rng.choice(WORDS) for _ in range(8)]
            written.extend(words)
            draw.text((90, 100 + line * 50), " ".join(words), fill=0, font=font)
        images.append(image)
    images[0].save(path, "PDF", resolution=150, save_all=True, append_images=images[1:])
    return written


def _pages_per_minute(pages: int, seconds: float) -> float:
    return round(pages / seconds * 60, 1) if seconds else 0.0


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the sandbox, tesseract, pdftoppm): on a
    machine shared with other work, wall-clock rates say more about the neighbours than about us."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def on_two_cores(pages: int, cpu: float) -> float:
    """Pages a minute if the CPU time spent were spread over two otherwise idle cores."""
    return round(pages / (cpu / 2) * 60, 1) if cpu else 0.0


def bench_text_pdfs(limits: Any) -> dict[str, Any]:
    from knowledgebase.extraction import extract_file

    rows, total_pages, total_seconds = [], 0, 0.0
    for name in TEXT_PDFS:
        path = PDF_DIR / name
        started = time.perf_counter()
        document = extract_file(path, filename=path.name, limits=limits, isolated=False)
        seconds = time.perf_counter() - started
        rows.append(
            {"file": name, "pages": document.pages, "characters": document.characters, "seconds": seconds}
        )
        total_pages += document.pages
        total_seconds += seconds
    return {
        "what": "text-layer PDFs from the shared corpus, in process, OCR of embedded images off",
        "files": rows,
        "pages": total_pages,
        "seconds": round(total_seconds, 2),
        "pages_per_minute": _pages_per_minute(total_pages, total_seconds),
    }


def bench_ocr(limits: Any, *, pages: int) -> dict[str, Any]:
    from knowledgebase.extraction import extract_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scanned.pdf"
        written = _scanned_pdf(path, pages=pages)
        started, cpu = time.perf_counter(), cpu_seconds()
        document = extract_file(path, filename=path.name, limits=limits, isolated=False)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        found = " ".join(block.text for block in document.blocks).split()
        recall = sum(min(found.count(w), written.count(w)) for w in set(written)) / len(written)
        return {
            "what": f"{pages} synthetic A4 scans (150 dpi, 30 lines each), rendered by pdftoppm at the "
            f"scan's own resolution (150 to {limits.ocr_dpi} dpi), tesseract ({limits.ocr_languages})",
            "pages": document.pages,
            "pages_ocrd": document.images_ocrd,
            "seconds": round(seconds, 2),
            "seconds_per_page": round(seconds / pages, 2),
            "pages_per_minute": _pages_per_minute(pages, seconds),
            "cpu_seconds": round(cpu, 2),
            "pages_per_minute_on_two_idle_cores": on_two_cores(pages, cpu),
            "word_recall": round(recall, 3),
            "omp_thread_limit": _omp_comparison(path, limits=limits),
        }


def _omp_comparison(pdf: Path, *, limits: Any) -> dict[str, Any]:
    """Why ocr.py pins OMP_THREAD_LIMIT=1: the same page with and without it."""
    pdftoppm, tesseract = _tool("pdftoppm"), _tool("tesseract")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(  # noqa: S603
            [
                pdftoppm,
                "-gray",
                "-png",
                "-r",
                str(limits.ocr_dpi),
                "-f",
                "1",
                "-l",
                "1",
                str(pdf),
                f"{tmp}/p",
            ],
            check=True,
            capture_output=True,
        )
        page = next(Path(tmp).glob("p*.png"))
        timings: dict[str, Any] = {}
        for label, threads in (("1", "1"), ("unset", None)):
            env = {k: v for k, v in os.environ.items() if k != "OMP_THREAD_LIMIT"}
            if threads:
                env["OMP_THREAD_LIMIT"] = threads
            runs = []
            for _ in range(2):
                started = time.perf_counter()
                subprocess.run(  # noqa: S603
                    [tesseract, str(page), "-", "-l", limits.ocr_languages],
                    check=True,
                    capture_output=True,
                    env=env,
                )
                runs.append(time.perf_counter() - started)
            timings[f"seconds_per_page_omp_{label}"] = round(min(runs), 2)
        timings["cpu_count"] = os.cpu_count()
        return timings


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} is not installed (apt-get install tesseract-ocr poppler-utils)")
    return path


def bench_markdown() -> dict[str, Any]:
    from knowledgebase.extraction import extract_markdown

    files = sorted(MARKDOWN_DIR.rglob("*.md"))
    texts = [path.read_text(encoding="utf-8") for path in files]
    started = time.perf_counter()
    characters = sum(extract_markdown(text).characters for text in texts)
    seconds = time.perf_counter() - started
    return {
        "what": "wagtail-docs Markdown (MyST), in process",
        "files": len(files),
        "characters": characters,
        "seconds": round(seconds, 2),
        "files_per_second": round(len(files) / seconds, 1),
    }


def bench_isolation(limits: Any) -> dict[str, Any]:
    from knowledgebase.extraction import extract_file
    from knowledgebase.validation import validate_upload

    path = PDF_DIR / "001-trivial/minimal-document.pdf"
    timings: dict[str, list[float]] = {"in_process": [], "isolated": [], "upload_check": []}
    for _ in range(3):
        for mode, isolated in (("in_process", False), ("isolated", True)):
            started = time.perf_counter()
            extract_file(path, filename=path.name, limits=limits, isolated=isolated)
            timings[mode].append(time.perf_counter() - started)
        started = time.perf_counter()
        with path.open("rb") as handle:
            validate_upload(handle, filename=path.name, size=None, limits=limits)
        timings["upload_check"].append(time.perf_counter() - started)
    return {
        "what": "one-page PDF: child process start (imports, rlimits) vs in process; the upload's"
        " structural check, also in a child (knowledgebase.extraction.structure)",
        "in_process_seconds": round(statistics.median(timings["in_process"]), 3),
        "isolated_seconds": round(statistics.median(timings["isolated"]), 3),
        "upload_check_seconds": round(statistics.median(timings["upload_check"]), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scanned-pages", type=int, default=6)
    parser.add_argument("--skip-hostile", action="store_true")
    parser.add_argument("--skip-fidelity", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # pypdf's font notes
    sys.path.insert(0, str(ROOT))
    # The hostile set runs the production path (validation reads settings, chunking the embedder).
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datacollection.settings.test")
    import django

    django.setup()
    from benchmarks.extraction_e2e import bench_end_to_end
    from benchmarks.extraction_hostile import bench_hostile, bench_production_text_pdfs
    from knowledgebase.extraction import ExtractionLimits

    limits = ExtractionLimits()
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "tesseract": shutil.which("tesseract"),
        "text_pdf": bench_text_pdfs(ExtractionLimits(ocr_enabled=False)),
        "ocr_scanned": bench_ocr(limits, pages=args.scanned_pages),
        "markdown": bench_markdown(),
        "isolation_overhead": bench_isolation(limits),
        "text_pdf_production": bench_production_text_pdfs(PDF_DIR, TEXT_PDFS),
        "text_pdf_end_to_end": bench_end_to_end(PDF_DIR, TEXT_PDFS),
    }
    if not args.skip_hostile:
        results["hostile"] = bench_hostile()
    if not args.skip_fidelity:
        from benchmarks.extraction_fidelity import bench_fidelity

        results["fidelity"] = bench_fidelity()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    summary = {
        "text_pdf_pages_per_minute": results["text_pdf"]["pages_per_minute"],
        "ocr_pages_per_minute": results["ocr_scanned"]["pages_per_minute"],
        "ocr_pages_per_minute_on_two_idle_cores": results["ocr_scanned"][
            "pages_per_minute_on_two_idle_cores"
        ],
        "ocr_word_recall": results["ocr_scanned"]["word_recall"],
        "omp": results["ocr_scanned"]["omp_thread_limit"],
        "markdown_files_per_second": results["markdown"]["files_per_second"],
        "isolation": results["isolation_overhead"],
        "text_pdf_production_pages_per_minute": results["text_pdf_production"]["pages_per_minute"],
        "text_pdf_end_to_end_pages_per_minute": results["text_pdf_end_to_end"]["pages_per_minute"],
        "text_pdf_end_to_end_with_upload_check_pages_per_minute": results["text_pdf_end_to_end"][
            "pages_per_minute_with_upload_check"
        ],
        "text_pdf_end_to_end_on_two_idle_cores": results["text_pdf_end_to_end"][
            "pages_per_minute_on_two_idle_cores"
        ],
        "end_to_end_seconds_by_step": results["text_pdf_end_to_end"]["seconds_by_step"],
        "load_average": os.getloadavg(),
    }
    if "hostile" in results:
        summary["hostile"] = {k: v for k, v in results["hostile"].items() if k not in {"files", "what"}}
    if "fidelity" in results:
        summary["fidelity"] = {
            kind: {k: v for k, v in group.items() if k.endswith("_percent") or k == "refused"}
            for kind, group in [("all", results["fidelity"]["all"]), *results["fidelity"]["by_kind"].items()]
        }
    print(json.dumps(summary, indent=2))
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
