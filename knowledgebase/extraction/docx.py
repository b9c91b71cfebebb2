"""DOCX: headings from styles, paragraphs, lists, tables (merged and nested), headers/footers, image OCR."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import docx
from docx.document import Document as DocxDocument
from docx.oxml.ns import qn
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from docx.text.run import Run
from lxml import etree

from .base import BlockKind, ExtractedDocument
from .builder import DocumentBuilder
from .docx_notes import docx_notes
from .docx_safety import check_docx, open_docx_zip
from .errors import CorruptFile, ExtractionLimitExceeded, NoTextFound
from .images import image_size, pixels_allowed, skipped_image
from .limits import ExtractionLimits
from .ocr import ocr_image_bytes, worth_ocr

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
_BLIP_XPATH = ".//a:blip/@r:embed"
_VML_IMAGE = "{urn:schemas-microsoft-com:vml}imagedata"


class _DocxExtractor:
    def __init__(self, document: DocxDocument, *, limits: ExtractionLimits) -> None:
        self.document = document
        self.limits = limits
        self.builder = DocumentBuilder(title=(document.core_properties.title or "").strip())
        self.list_lines: list[str] = []
        self.images_seen: set[str] = set()
        self.images_left = limits.ocr_max_images

    def run(self) -> ExtractedDocument:
        for item in self.document.iter_inner_content():
            if isinstance(item, Paragraph):
                self.paragraph(item)
            else:
                self.flush_list()
                self.builder.add(BlockKind.TABLE, table_text(item))
        self.flush_list()
        for section in docx_notes(self.document):
            self.builder.reset_headings()
            self.builder.heading(section.title, level=1)
            for text in section.texts:
                self.builder.add(BlockKind.PARAGRAPH, text)
        self.headers_and_footers()
        return self.builder.finish()

    def paragraph(self, paragraph: Paragraph) -> None:
        text = paragraph_text(paragraph).strip()
        level, is_title = heading_level(paragraph)
        list_level = _list_level(paragraph)
        if text and list_level is not None and level is None:
            self.list_lines.append("  " * list_level + "- " + " ".join(text.split()))
        else:
            self.flush_list()
            if text and is_title and not self.builder.document.title:
                self.builder.document.title = " ".join(text.split())
            if text and level is not None:
                self.builder.heading(text, level=level)
            elif text:
                self.builder.add(BlockKind.PARAGRAPH, text)
        self.images(paragraph)

    def flush_list(self) -> None:
        if self.list_lines:
            self.builder.add(BlockKind.LIST, "\n".join(self.list_lines))
            self.list_lines = []

    def images(self, paragraph: Paragraph) -> None:
        if not self.limits.ocr_enabled:
            return
        element = paragraph._p
        ids = list(element.xpath(_BLIP_XPATH))
        ids += [node.get(qn("r:id")) for node in element.iter(_VML_IMAGE) if node.get(qn("r:id"))]
        for rel_id in ids:
            part = paragraph.part.related_parts.get(rel_id)  # external (linked) images have no part
            if part is None or str(part.partname) in self.images_seen:
                continue
            self.images_seen.add(str(part.partname))
            self.ocr(part.blob)

    def ocr(self, blob: bytes) -> None:
        size = image_size(blob)
        if size is None or not worth_ocr(*size, limits=self.limits):
            return
        if not pixels_allowed(*size, limits=self.limits):
            self.builder.warn(skipped_image("An image in the document", *size))
            return
        if self.images_left <= 0:
            self.builder.warn(f"Only the first {self.limits.ocr_max_images} images were read with OCR.")
            return
        self.images_left -= 1
        try:
            text = ocr_image_bytes(blob, limits=self.limits)
        except ExtractionLimitExceeded as e:  # one slow image is skipped; the document has its own limit
            self.builder.warn(f"{e.message} The image was skipped.")
            return
        self.builder.document.images_ocrd += 1
        if text and sum(ch.isalnum() for ch in text) >= 3:
            self.flush_list()
            self.builder.add(BlockKind.IMAGE_TEXT, text)

    def headers_and_footers(self) -> None:
        """Once per document: they repeat on every page, and per section only when they differ."""
        seen: list[str] = []
        for section in self.document.sections:
            parts = (
                section.header,
                section.first_page_header,
                section.even_page_header,
                section.footer,
                section.first_page_footer,
                section.even_page_footer,
            )
            for part in parts:
                if part.is_linked_to_previous:
                    continue
                for item in part.iter_inner_content():
                    text = paragraph_text(item).strip() if isinstance(item, Paragraph) else table_text(item)
                    if text and text not in seen:
                        seen.append(text)
        if seen:
            self.builder.reset_headings()
            self.builder.add(BlockKind.PARAGRAPH, "\n".join(seen))


def paragraph_text(paragraph: Paragraph) -> str:
    """The paragraph's text without hidden runs (`w:vanish`, Word's "Hidden" font effect): a reader never
    sees them, so they are not knowledge, and they are where an injected instruction hides."""
    if paragraph._p.find(f".//{qn('w:vanish')}") is None:
        return paragraph.text
    parts: list[str] = []
    for item in paragraph.iter_inner_content():
        runs = [item] if isinstance(item, Run) else item.runs
        parts.extend(run.text for run in runs if not run.font.hidden)
    return "".join(parts)


def heading_level(paragraph: Paragraph) -> tuple[int | None, bool]:
    """(level, is_title): the paragraph's own outline level (direct formatting wins in Word), else the
    first style up the "based on" chain that is Title, named "Heading n", or sets an outline level
    (a custom "Chapter" style based on Heading 1; a style that only says "outline level 2")."""
    level = _outline_level(paragraph._p.pPr)
    if level is not None:
        return level, False
    style: Any = paragraph.style
    for _ in range(10):
        if style is None:
            break
        name = (style.name or "").strip()
        if name.lower() == "title":
            return 1, True
        match = _HEADING_STYLE.match(name)
        if match:
            return int(match.group(1)), False
        level = _outline_level(style.element.pPr)
        if level is not None:
            return level, False
        style = style.base_style
    return None, False


def _outline_level(p_pr: Any) -> int | None:
    """1-9 from ``w:outlineLvl`` 0-8; 9 ("body text") and absence are not headings."""
    outline = p_pr.find(qn("w:outlineLvl")) if p_pr is not None else None
    value = outline.get(qn("w:val")) if outline is not None else None
    if value is not None and value.isdigit() and int(value) < 9:
        return int(value) + 1
    return None


def _list_level(paragraph: Paragraph) -> int | None:
    p_pr = paragraph._p.pPr
    num_pr = p_pr.find(qn("w:numPr")) if p_pr is not None else None
    if num_pr is not None:
        num_id = num_pr.find(qn("w:numId"))
        if num_id is not None and num_id.get(qn("w:val")) not in (None, "0"):
            ilvl = num_pr.find(qn("w:ilvl"))
            value = ilvl.get(qn("w:val")) if ilvl is not None else "0"
            return int(value) if value and value.isdigit() else 0
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    return 0 if name.lower().startswith("list") else None


def table_text(table: Table, *, depth: int = 0) -> str:
    """One line per row, cells joined with `` | ``. A merged cell is reported once (python-docx repeats
    it for every grid column and row it spans); nested tables follow their cell's text."""
    # id -> the element itself: holding the lxml proxy keeps it alive, so its id cannot be reused by
    # another cell's proxy once the row's cells are garbage-collected (which dropped whole rows, at random).
    seen: dict[int, object] = {}
    rows: list[str] = []
    for row in table.rows:
        try:
            cells = row.cells
        except (IndexError, ValueError):  # grids Word would repair; keep the other rows
            continue
        texts: list[str] = []
        for cell in cells:
            if id(cell._tc) in seen:
                continue
            seen[id(cell._tc)] = cell._tc
            texts.append(_cell_text(cell, depth=depth))
        if any(texts):
            rows.append(" | ".join(texts))
    return "\n".join(rows)


def _cell_text(cell: _Cell, *, depth: int) -> str:
    parts: list[str] = []
    for item in cell.iter_inner_content():
        if isinstance(item, Paragraph):
            if text := paragraph_text(item).strip():
                parts.append(" ".join(text.split()))
        elif depth < 5:
            nested = table_text(item, depth=depth + 1)
            if nested:
                parts.append("[" + nested.replace("\n", "; ") + "]")
    return " ".join(parts)


def extract_docx(path: Path, *, limits: ExtractionLimits) -> ExtractedDocument:
    with open_docx_zip(path) as archive:
        check_docx(archive, limits=limits)
    try:
        document = docx.Document(str(path))
    except (KeyError, ValueError, zipfile.BadZipFile, AttributeError, TypeError, etree.XMLSyntaxError) as e:
        raise CorruptFile(f"The Word document is damaged and cannot be read ({e}).", code="corrupt") from e
    result = _DocxExtractor(document, limits=limits).run()
    if not result.characters:
        raise NoTextFound("This Word document contains no text.", code="no_text")
    return result
