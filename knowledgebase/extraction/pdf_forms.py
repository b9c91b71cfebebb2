"""PDF forms: the filled-in values of AcroForm fields, placed on their pages or kept only in the form's
field tree. The values are the knowledge a filled-in form holds (its labels alone say little)."""

from __future__ import annotations

from typing import Any

from pypdf import PageObject, PdfReader
from pypdf.generic import DictionaryObject, IndirectObject, NameObject

from .base import BlockKind
from .builder import DocumentBuilder


def emit_fields(builder: DocumentBuilder, page: PageObject) -> list[str]:
    """Filled-in values of the page's form widgets, as "name: value" lines under the page's text."""
    lines: list[str] = []
    for annotation in resolve(page.get("/Annots")) or []:
        widget = resolve(annotation)
        if not isinstance(widget, DictionaryObject) or widget.get("/Subtype") != "/Widget":
            continue
        name, value = _field_name(widget), _field_value(widget)
        if name and value:
            line = f"{name}: {value}"
            if line not in lines:
                lines.append(line)
    if lines:
        builder.add(BlockKind.PARAGRAPH, "Form fields:\n" + "\n".join(lines))
    return lines


def emit_unplaced_fields(builder: DocumentBuilder, reader: PdfReader, seen: set[str]) -> None:
    """AcroForm fields with a value but no widget on any page (hidden, or kept only in the form's
    field tree): their values are still what the form says."""
    try:
        fields = reader.get_fields() or {}
    except Exception:  # noqa: BLE001 - a broken field tree only costs these values
        return
    lines: list[str] = []
    for name, field in list(fields.items())[:5000]:
        value = resolve(field.get("/V")) if isinstance(field, dict) else None
        if isinstance(value, NameObject):
            text = "" if value in ("/Off", "/") else "Yes"
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        else:
            text = " ".join(str(value).split()) if isinstance(value, str) else ""
        line = f"{name}: {text}"
        if text and line not in seen and line not in lines:
            lines.append(line)
    if lines:
        builder.reset_headings()
        builder.page_number = None
        builder.add(BlockKind.PARAGRAPH, "Form fields:\n" + "\n".join(lines))


def _field_name(widget: DictionaryObject) -> str:
    parts: list[str] = []
    node: Any = widget
    for _ in range(16):
        if not isinstance(node, DictionaryObject):
            break
        if "/T" in node:
            parts.append(str(node["/T"]))
        node = resolve(node.get("/Parent"))
    return ".".join(reversed(parts))


def _field_value(widget: DictionaryObject) -> str:
    node: Any = widget
    for _ in range(16):
        if not isinstance(node, DictionaryObject):
            return ""
        if "/V" in node:
            value = resolve(node["/V"])
            if isinstance(value, NameObject):
                return "" if value == "/Off" else "Yes"
            if isinstance(value, list):
                return ", ".join(str(v) for v in value)
            return " ".join(str(value).split()) if isinstance(value, str) else ""
        node = resolve(node.get("/Parent"))
    return ""


def resolve(obj: Any) -> Any:
    return obj.get_object() if isinstance(obj, IndirectObject) else obj
