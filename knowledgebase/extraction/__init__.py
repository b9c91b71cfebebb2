"""Extraction of uploaded files (PDF, DOCX, TXT, Markdown) into structured blocks, with OCR.

Public API::

    extract_file(path, *, filename, limits=None, isolated=True) -> ExtractedDocument
    extract_markdown(text, *, title_hint="") -> ExtractedDocument
    heading_anchor(text, seen, *, label="") -> str     # the renderer uses it for heading ids

Failures raise ``ExtractionError`` subclasses (``search.errors.KnowledgeError``) whose message is for
the editor and whose ``code`` is stable (see ``errors.py``).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .anchors import heading_anchor, slugify_heading
    from .base import Block, BlockKind, ExtractedDocument
    from .errors import (
        CorruptFile,
        EncryptedFile,
        ExtractionError,
        ExtractionLimitExceeded,
        FileTooLarge,
        NoTextFound,
        UnsafeFile,
        UnsupportedFile,
    )
    from .limits import ExtractionLimits
    from .sniff import FileKind
    from .text import extract_markdown

# Loaded on first use (PEP 562): the upload check's child imports ``extraction.structure`` and so this
# package, and should not pay for every parser (0.5 s measured, against 0.3 s for what it needs).
_LAZY = {
    "heading_anchor": ".anchors",
    "slugify_heading": ".anchors",
    "Block": ".base",
    "BlockKind": ".base",
    "ExtractedDocument": ".base",
    "CorruptFile": ".errors",
    "EncryptedFile": ".errors",
    "ExtractionError": ".errors",
    "ExtractionLimitExceeded": ".errors",
    "FileTooLarge": ".errors",
    "NoTextFound": ".errors",
    "UnsafeFile": ".errors",
    "UnsupportedFile": ".errors",
    "ExtractionLimits": ".limits",
    "FileKind": ".sniff",
    "extract_markdown": ".text",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Block",
    "BlockKind",
    "CorruptFile",
    "EncryptedFile",
    "ExtractedDocument",
    "ExtractionError",
    "ExtractionLimitExceeded",
    "ExtractionLimits",
    "FileKind",
    "FileTooLarge",
    "NoTextFound",
    "UnsafeFile",
    "UnsupportedFile",
    "extract_file",
    "extract_markdown",
    "heading_anchor",
    "slugify_heading",
]


def extract_file(
    path: Path, *, filename: str, limits: ExtractionLimits | None = None, isolated: bool = True
) -> ExtractedDocument:
    """Extract one stored upload. ``filename`` is the name the editor gave it (its extension decides
    the type, which the content must confirm).

    ``isolated=True`` (the default, for workers) runs the parsers and OCR in a child process under the
    wall-clock and memory limits of ``limits`` (from settings when omitted); ``isolated=False`` runs
    in this process, for fast unit tests and trusted input.
    """
    from .core import extract_path
    from .isolation import extract_isolated
    from .limits import ExtractionLimits

    limits = limits or ExtractionLimits.from_settings()
    if isolated:
        return extract_isolated(Path(path), filename=filename, limits=limits)
    return extract_path(Path(path), filename=filename, limits=limits)
