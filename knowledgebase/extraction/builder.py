"""Accumulates blocks while keeping the heading path and anchors consistent across formats."""

from __future__ import annotations

import re
import unicodedata

from .anchors import heading_anchor
from .base import Block, BlockKind, ExtractedDocument

_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANKS = re.compile(r"\n{3,}")
# Glyph forms a PDF's fonts leave in extracted text (the "ﬁ" ligature of LaTeX, Arabic presentation
# forms): nobody typed them, so they become the letters they draw. Every other compatibility character
# (full-width digits and colons, "№", "㎡") is the source's own and is stored as written; folding them
# (NFKC) is for matching only, never for the text a citation quotes.
_GLYPH_FORMS = re.compile("[\ufb00-\ufb06\ufb50-\ufdff\ufe70-\ufefc]+")


def clean_text(text: str) -> str:
    """Normalise whitespace without joining lines (code and tables keep their line structure)."""
    text = _GLYPH_FORMS.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    lines = [_clean_line(line) for line in text.split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def _clean_line(line: str) -> str:
    """Collapse runs of spaces, but keep the indentation (nested list items)."""
    body = line.lstrip(" ")
    return line[: len(line) - len(body)] + _SPACES.sub(" ", body).rstrip()


class DocumentBuilder:
    def __init__(self, *, title: str = "") -> None:
        self.document = ExtractedDocument(title=title)
        self._headings: list[tuple[int, str]] = []  # (level, text) of the open headings
        self._anchor = ""
        self._seen: dict[str, int] = {}
        self.page_number: int | None = None

    @property
    def heading_path(self) -> tuple[str, ...]:
        return tuple(text for _, text in self._headings)

    def heading(self, text: str, *, level: int, label: str = "") -> None:
        text = " ".join(text.split())
        if not text:
            return
        level = max(1, min(level, 9))
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, text))
        self._anchor = heading_anchor(text, self._seen, label=label)
        self._append(BlockKind.HEADING, text, level=level)

    def reset_headings(self) -> None:
        """For trailing content that belongs to no section (headers and footers)."""
        self._headings = []
        self._anchor = ""

    def add(self, kind: BlockKind, text: str, *, language: str = "") -> None:
        text = text.strip("\n") if kind == BlockKind.CODE else clean_text(text)
        if not text.strip():
            return
        self._append(kind, text, language=language)

    def warn(self, message: str) -> None:
        if message not in self.document.warnings:
            self.document.warnings.append(message)

    def finish(self) -> ExtractedDocument:
        doc = self.document
        doc.characters = sum(len(block.text) for block in doc.blocks)
        if not doc.title:
            doc.title = next((b.text for b in doc.blocks if b.kind == BlockKind.HEADING), "")
        return doc

    def _append(self, kind: BlockKind, text: str, *, level: int = 0, language: str = "") -> None:
        self.document.blocks.append(
            Block(
                kind=kind,
                text=text,
                heading_path=self.heading_path,
                anchor=self._anchor,
                page_number=self.page_number,
                level=level,
                language=language,
            )
        )
