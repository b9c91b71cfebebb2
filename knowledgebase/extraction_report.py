"""What the production pipeline makes of a file, for operators (``manage.py extract``) and benchmarks.

The same steps as an upload: ``validate_upload`` (what the API and the admin run before storing), the
sandboxed ``extract_file`` (what the worker runs) and the chunking of ``knowledgebase.content`` (what
gets embedded and indexed). Nothing is stored.
"""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from knowledgebase.content import SourceContent, source_chunks
from knowledgebase.extraction import BlockKind, ExtractionError, extract_file
from knowledgebase.validation import validate_upload
from search.errors import KnowledgeError
from search.values import Visibility
from search.visibility import Access

_FIRST_WORDS = 12
_FIRST_CHARS = 100


@dataclass(frozen=True, kw_only=True)
class HeadingReport:
    level: int
    text: str
    anchor: str
    page: int | None


@dataclass(frozen=True, kw_only=True)
class PassageReport:
    heading_path: list[str]
    anchor: str
    page: int | None
    first_words: str
    text: str


@dataclass(kw_only=True)
class FileReport:
    file: str
    status: str  # "ok" or "refused"
    code: str = ""
    reason: str = ""
    title: str = ""
    pages: int = 0
    characters: int = 0
    encoding: str = ""
    warnings: list[str] = field(default_factory=list)
    headings: list[HeadingReport] = field(default_factory=list)
    passages: list[PassageReport] = field(default_factory=list)
    seconds: float = 0.0
    peak_rss_mb: float = 0.0  # the extraction sandbox (and the tesseract/pdftoppm it ran)
    command_rss_mb: float = 0.0  # this process: validation, chunking (high-water mark so far)

    def to_dict(self, *, full_text: bool) -> dict[str, Any]:
        data = asdict(self)
        if not full_text:
            for passage in data["passages"]:
                del passage["text"]
        return data


def file_report(path: Path) -> FileReport:
    started = time.monotonic()
    report = FileReport(file=str(path), status="ok")
    try:
        with path.open("rb") as handle:
            validated = validate_upload(handle, filename=path.name, size=path.stat().st_size)
        document = extract_file(path, filename=path.name)
    except ExtractionError as e:
        report.status, report.code, report.reason = "refused", e.code, e.message
    else:
        report.title = validated.title or document.title
        report.pages, report.characters = document.pages, document.characters
        report.encoding, report.warnings = document.encoding, list(document.warnings)
        report.peak_rss_mb = round(document.peak_rss_bytes / 2**20, 1)
        report.headings = [
            HeadingReport(level=b.level, text=b.text, anchor=b.anchor, page=b.page_number)
            for b in document.blocks
            if b.kind == BlockKind.HEADING
        ]
        try:
            report.passages = _passages(document.title or report.title, document.blocks, report.warnings)
        except KnowledgeError as e:  # the embedder's tokenizer could not be loaded
            report.warnings.append(f"Passages not computed: {e.message}")
    report.seconds = round(time.monotonic() - started, 2)
    report.command_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return report


def _passages(title: str, blocks: list[Any], warnings: list[str]) -> list[PassageReport]:
    """The passages indexing would store; when the per-source cap (KNOWLEDGE_MAX_PASSAGES) leaves some
    out, a warning says so as the status panel does."""
    content = SourceContent(
        title=title,
        url="",
        revision_id=None,
        access=Access(visibility=Visibility.OWNER),
        blocks=blocks,
        stats={},
    )
    chunks = source_chunks("document", 0, content)
    if cut := content.stats.get("truncated"):
        warnings.append(
            f"Not all indexed: only the first {cut['kept']} of {cut['total']} passages would be stored "
            f"(the limit per source, KNOWLEDGE_MAX_PASSAGES); from {cut['from']} on, the bot cannot find "
            "this file."
        )
    return [
        PassageReport(
            heading_path=list(chunk.heading_path),
            anchor=chunk.anchor,
            page=chunk.page_number,
            first_words=" ".join(chunk.text.split()[:_FIRST_WORDS])[:_FIRST_CHARS],
            text=chunk.text,
        )
        for chunk in chunks
    ]
