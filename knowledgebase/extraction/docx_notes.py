"""DOCX footnotes, endnotes and comments: each kind becomes its own section after the body.

They live in their own parts (``word/footnotes.xml``, ``endnotes.xml``, ``comments.xml``), which
python-docx loads but does not read. The parts passed ``check_docx`` (no DTD, no entities), and lxml
parses them with entity resolution and network access off all the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from docx.document import Document as DocxDocument
from lxml import etree

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_PARTS = (
    # part name, element of one note, section title
    ("/word/footnotes.xml", "footnote", "Footnotes"),
    ("/word/endnotes.xml", "endnote", "Endnotes"),
    ("/word/comments.xml", "comment", "Comments"),
)
# Separator "notes" Word writes before the real ones: the rule above the footnotes, and its continuation.
_NOT_NOTES = {"separator", "continuationSeparator", "continuationNotice"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@dataclass(frozen=True, kw_only=True)
class NotesSection:
    title: str
    texts: list[str]


def docx_notes(document: DocxDocument) -> list[NotesSection]:
    parts = {str(part.partname): part for part in document.part.package.iter_parts()}
    sections: list[NotesSection] = []
    for partname, element, title in _PARTS:
        part = parts.get(partname)
        if part is None:
            continue
        texts = _notes(_root(part), element)
        if texts:
            sections.append(NotesSection(title=title, texts=texts))
    return sections


def _root(part: Any) -> Any:
    element = getattr(part, "element", None)  # python-docx parsed it already (XmlPart)
    return element if element is not None else etree.fromstring(part.blob, _PARSER)


def _notes(root: Any, element: str) -> list[str]:
    texts: list[str] = []
    for number, note in enumerate(
        (n for n in root.iter(f"{_W}{element}") if n.get(f"{_W}type") not in _NOT_NOTES), start=1
    ):
        # w:t only: field instructions (w:instrText) and deleted text (w:delText) are not what it says.
        paragraphs = [
            " ".join("".join(t.text or "" for t in p.iter(f"{_W}t")).split()) for p in note.iter(f"{_W}p")
        ]
        text = " ".join(p for p in paragraphs if p)
        if not text:
            continue
        author = note.get(f"{_W}author", "").strip()
        texts.append(f"{author}: {text}" if element == "comment" and author else f"[{number}] {text}")
    return texts
