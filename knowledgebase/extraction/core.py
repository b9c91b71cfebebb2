"""In-process extraction: sniff the type, check the size, dispatch to the format's extractor."""

from __future__ import annotations

import logging
from pathlib import Path

from .base import ExtractedDocument
from .encoding import read_text
from .errors import CorruptFile, ExtractionError, ExtractionLimitExceeded, NoTextFound, too_large
from .limits import ExtractionLimits
from .names import title_from_filename
from .sniff import FileKind, sniff_kind
from .text import MARKDOWN_BUDGET_SECONDS, extract_markdown, extract_text

logger = logging.getLogger(__name__)


def extract_path(path: Path, *, filename: str, limits: ExtractionLimits) -> ExtractedDocument:
    """Every failure surfaces as an ``ExtractionError`` with a reason an editor can act on."""
    try:
        return _extract(path, filename=filename, limits=limits)
    except ExtractionError:
        raise
    except MemoryError as e:
        raise ExtractionLimitExceeded(
            f"Reading the file needed more than the {limits.memory_mb} MB allowed.", code="memory"
        ) from e
    except RecursionError as e:
        raise CorruptFile("The file is nested too deeply to be read.", code="corrupt") from e
    except Exception as e:  # parsers of hostile input fail in any way; say so plainly
        logger.warning("extraction of %s failed", filename, exc_info=True)
        raise CorruptFile(
            f"The file could not be read ({type(e).__name__}); it may be damaged.", code="corrupt"
        ) from e


def _extract(path: Path, *, filename: str, limits: ExtractionLimits) -> ExtractedDocument:
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise too_large(size, limits.max_bytes)
    if size == 0:
        raise NoTextFound("The file is empty.", code="empty")
    with path.open("rb") as handle:
        kind = sniff_kind(handle, filename=filename, limits=limits)
    title_hint = title_from_filename(filename)
    if kind == FileKind.PDF:
        from .pdf import extract_pdf

        document = extract_pdf(path, limits=limits)
    elif kind == FileKind.DOCX:
        from .docx import extract_docx

        document = extract_docx(path, limits=limits)
    else:
        document = _extract_text_file(path, kind=kind, title_hint=title_hint)
    document.title = document.title or title_hint
    return document


def _extract_text_file(path: Path, *, kind: FileKind, title_hint: str) -> ExtractedDocument:
    decoded = read_text(path.read_bytes())
    if kind == FileKind.MARKDOWN:
        document = extract_markdown(
            decoded.text, title_hint=title_hint, budget_seconds=MARKDOWN_BUDGET_SECONDS
        )
    else:
        document = extract_text(decoded.text, title_hint=title_hint)
    document.warnings[:0] = decoded.warnings
    document.encoding = decoded.encoding
    if not document.characters:
        raise NoTextFound("The file contains no text.", code="no_text")
    document.pages = 0
    return document
