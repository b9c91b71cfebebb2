"""Extraction fidelity: how much of what a file says reaches the stored passages, under the right heading
and on the right page. Part of ``benchmarks/extraction.py`` (``make bench BENCH=extraction``).

Every file goes through ``knowledgebase.extraction_report.file_report`` (validation, the sandboxed
extraction, the production chunking: what gets embedded and indexed). Its ground truth comes from
elsewhere:

- the shared corpus's PDFs: key strings are five-word runs of poppler's ``pdftotext`` lines of each page
  (another extractor than ours), with that page; headings are the outline entries that point at a page;
- its DOCX files: key strings from python-docx's paragraphs, headings from paragraphs whose style is
  named "Heading n" or "Title";
- its Markdown (every 6th Wagtail docs file): five-word runs of plain prose lines and the ATX headings,
  code fences and directives left out;
- generated files (``tests/fixtures/fidelity.py``): the truth written with each file.

A key string counts when some passage contains it (or, cut by a passage boundary, the passages read in
order do: counted apart as ``strings_split_across_passages``), a heading when some passage's heading path
holds it, a page when a passage that contains the string is on that page. Texts are compared after folding
(NFKC, case) and with whitespace collapsed, so line breaks and ligatures do not count as losses.
Targets (issue 16): key strings 97 %, headings 85 %, page numbers 95 %.
"""

from __future__ import annotations

import re
import shutil
import subprocess  # fixed argv
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from docx import Document as open_docx
from pypdf import PdfReader

from benchmarks.paths import corpus

RUN_WORDS = 5  # words per key string: long enough to be specific, short enough to stay in one passage
STRINGS_PER_PAGE = 3
STRINGS_PER_FILE = 12
MARKDOWN_EVERY = 6
TARGETS = {"key_strings": 97.0, "headings": 85.0, "page_numbers": 95.0}
_PLAIN_WORD = re.compile(r"^[\w'’,.;:!?()-]+$")
_MARKUP = re.compile(r"[`*_\[\]{}<>|#=\\]|https?:|\.\.\s|:::")


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).replace("\u00ad", "").casefold()
    return " ".join(text.split())


def _runs(line: str) -> str | None:
    """The middle five-word run of a line of plain words, or None when the line is too short or odd."""
    words = line.split()
    if len(words) < RUN_WORDS or not all(_PLAIN_WORD.match(w) for w in words):
        return None
    if sum(any(c.isalpha() for c in w) for w in words) < RUN_WORDS - 1:
        return None
    start = (len(words) - RUN_WORDS) // 2
    return " ".join(words[start : start + RUN_WORDS])


def _spread(items: list[Any], count: int) -> list[Any]:
    """``count`` items evenly spread over ``items`` (all of them when there are fewer)."""
    if len(items) <= count:
        return items
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


# --- Ground truth of the shared corpus ----------------------------------------------------------


def _pdf_truth(path: Path) -> dict[str, Any]:
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        raise SystemExit("pdftotext is not installed (apt-get install poppler-utils)")
    info = subprocess.run(  # noqa: S603
        [pdftotext.replace("pdftotext", "pdfinfo"), str(path)], capture_output=True, check=False, timeout=60
    ).stdout.decode("utf-8", "replace")
    pages = re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE)
    if "Encrypted:      yes" in info or pages is None:  # refused by design, or unreadable to poppler too
        return {"strings": [], "headings": []}
    strings: list[tuple[str, int | None]] = []
    for number in range(1, int(pages.group(1)) + 1):
        out = subprocess.run(  # noqa: S603
            [pdftotext, "-f", str(number), "-l", str(number), "-enc", "UTF-8", str(path), "-"],
            capture_output=True,
            check=False,
            timeout=60,
        ).stdout.decode("utf-8", "replace")
        runs = [run for line in out.splitlines() if (run := _runs(line))]
        strings += [(run, number) for run in _spread(runs, STRINGS_PER_PAGE)]
    headings: list[str] = []

    def walk(items: Iterable[Any]) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
                continue
            try:
                page = reader.get_destination_page_number(item)
            except Exception:  # noqa: BLE001, S112 - a dangling entry points nowhere: not a heading here
                continue
            title = " ".join(str(getattr(item, "title", "") or "").split())
            if title and page is not None and page >= 0:
                headings.append(title)

    try:
        reader = PdfReader(path)
        walk(reader.outline)
    except Exception:  # noqa: BLE001, S110 - no readable outline, no headings to expect
        pass
    return {"strings": _spread(strings, STRINGS_PER_FILE * 2), "headings": headings}


def _docx_truth(path: Path) -> dict[str, Any]:
    document = open_docx(str(path))
    runs, headings = [], []
    for paragraph in document.paragraphs:
        text = " ".join(paragraph.text.split())
        style = paragraph.style.name if paragraph.style is not None else ""
        if text and (style.startswith("Heading") or style == "Title"):
            headings.append(text)
        elif run := _runs(text):
            runs.append(run)
    return {"strings": [(run, None) for run in _spread(runs, STRINGS_PER_FILE)], "headings": headings}


def _markdown_heading(line: str) -> str:
    """An ATX heading as the MyST import shows it: code spans lose their backticks, links keep their
    text, roles their text."""
    text = line.lstrip("#").strip()
    text = re.sub(r"\{[\w:-]+\}`([^`]*)`", r"\1", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\s*\{#[^}]*\}\s*$", "", text)
    return " ".join(text.replace("`", "").split())


def _markdown_truth(path: Path) -> dict[str, Any]:
    runs, headings = [], []
    fenced = False
    front_matter = False
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines()):
        line = raw.rstrip()
        if number == 0 and line == "---":
            front_matter = True
            continue
        if front_matter:
            front_matter = line != "---"
            continue
        if line.lstrip().startswith(("```", "~~~", ":::")):
            fenced = not fenced if line.lstrip().startswith(("```", "~~~")) else fenced
            continue
        if fenced or raw.startswith(("    ", "\t")):
            continue
        if re.match(r"^#{1,6}\s", line):
            if heading := _markdown_heading(line):
                headings.append(heading)
        elif not _MARKUP.search(line) and (run := _runs(line)):
            runs.append(run)
    return {"strings": [(run, None) for run in _spread(runs, STRINGS_PER_FILE)], "headings": headings}


def corpus_truths() -> list[dict[str, Any]]:
    truths = []
    for path in sorted(corpus("pdf-samples").rglob("*.pdf")):
        truths.append(
            {"name": str(path.relative_to(corpus())), "path": path, "kind": "pdf", **_pdf_truth(path)}
        )
    for path in sorted(corpus("docx-samples").glob("*.docx")):
        truths.append(
            {"name": str(path.relative_to(corpus())), "path": path, "kind": "docx", **_docx_truth(path)}
        )
    for path in sorted(corpus("wagtail-docs").rglob("*.md"))[::MARKDOWN_EVERY]:
        truths.append(
            {
                "name": str(path.relative_to(corpus())),
                "path": path,
                "kind": "markdown",
                **_markdown_truth(path),
            }
        )
    return truths


# --- Scoring ------------------------------------------------------------------------------------


def score(truth: dict[str, Any], passages: list[Any]) -> dict[str, Any]:
    """Found / expected counts of key strings, headings and pages in ``passages`` (PassageReport).

    A string is looked for in each passage, then in the passages read one after the other: one cut by a
    passage boundary (a long unpunctuated OCR line is cut between words, with no overlap) is stored, in
    two halves; it counts, and ``split`` says how many did."""
    texts = [(_norm(p.text), p.page) for p in passages]
    stream, starts = "", []
    for text, page in texts:
        starts.append((len(stream), page))
        stream += text + " "
    paths = {_norm(h) for p in passages for h in p.heading_path}
    missing: dict[str, list[str]] = {"strings": [], "headings": [], "pages": []}
    strings_found = split = pages_expected = pages_found = 0
    for text, page in truth["strings"]:
        wanted = _norm(text)
        pages = {p for t, p in texts if wanted in t}
        if not pages and (at := stream.find(wanted)) >= 0:
            split += 1
            pages = {next(p for start, p in reversed(starts) if start <= at)}
        if not pages:
            missing["strings"].append(text)
        else:
            strings_found += 1
        if page is not None:
            pages_expected += 1
            if page in pages:
                pages_found += 1
            elif pages:
                missing["pages"].append(f"{text!r}: page {page}, found on {sorted(pages, key=str)}")
    headings_found = 0
    for heading in truth["headings"]:
        if _norm(heading) in paths:
            headings_found += 1
        else:
            missing["headings"].append(heading)
    return {
        "strings": [strings_found, len(truth["strings"])],
        "split": split,
        "headings": [headings_found, len(truth["headings"])],
        "pages": [pages_found, pages_expected],
        "missing": {k: v[:5] for k, v in missing.items() if v},
    }


def _percent(pairs: Iterable[list[int]]) -> float | None:
    found = expected = 0
    for f, e in pairs:
        found, expected = found + f, expected + e
    return round(100 * found / expected, 1) if expected else None


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    scored = [r for r in rows if r["verdict"] == "ingested"]
    return {
        "files": len(rows),
        "ingested": len(scored),
        "refused": [f"{r['file']}: {r['code']}" for r in rows if r["verdict"] == "refused"],
        "key_strings_percent": _percent(r["score"]["strings"] for r in scored),
        "headings_percent": _percent(r["score"]["headings"] for r in scored),
        "page_numbers_percent": _percent(r["score"]["pages"] for r in scored),
        "strings_split_across_passages": sum(r["score"]["split"] for r in scored),
        "counts": {
            what: [sum(r["score"][what][i] for r in scored) for i in (0, 1)]
            for what in ("strings", "headings", "pages")
        },
    }


def bench_fidelity() -> dict[str, Any]:
    from knowledgebase.extraction_report import file_report
    from tests.fixtures.fidelity import fidelity_set

    with tempfile.TemporaryDirectory() as tmp:
        generated = [
            {
                "name": t.name,
                "path": t.path,
                "kind": f"generated {t.kind}",
                "strings": t.strings,
                "headings": t.headings,
            }
            for t in fidelity_set(Path(tmp) / "fidelity")
        ]
        rows: list[dict[str, Any]] = []
        for truth in [*corpus_truths(), *generated]:
            report = file_report(truth["path"])
            row: dict[str, Any] = {"file": truth["name"], "kind": truth["kind"], "seconds": report.seconds}
            if report.status != "ok":
                row.update(verdict="refused", code=report.code, reason=report.reason)
            else:
                row.update(
                    verdict="ingested", passages=len(report.passages), score=score(truth, report.passages)
                )
            rows.append(row)
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["kind"], []).append(row)
    return {
        "what": "key strings, headings and page numbers found in the passages the production path stores",
        "targets_percent": TARGETS,
        "all": _summary(rows),
        "by_kind": {kind: _summary(group) for kind, group in sorted(groups.items())},
        "files": rows,
    }


if __name__ == "__main__":
    import json
    import os
    import sys

    import django

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datacollection.settings.test")
    django.setup()
    result = bench_fidelity()
    print(json.dumps({k: v for k, v in result.items() if k != "files"}, indent=2, ensure_ascii=False))
    out = Path(__file__).resolve().parent.parent / "bench-results" / "extraction-fidelity.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
