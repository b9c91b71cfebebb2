"""Heading ids shared by extraction and the page renderer, so a citation's ``#anchor`` deep-links."""

from __future__ import annotations

import re
import unicodedata

_DROP = re.compile(r"[^\w\s-]", re.UNICODE)
_DASHES = re.compile(r"[\s_-]+", re.UNICODE)
_LABEL = re.compile(r"^[A-Za-z0-9][\w.:-]*$")


def slugify_heading(text: str) -> str:
    """``"Getting started!"`` → ``"getting-started"``.

    Letters beyond ASCII stay (``"Über uns"`` → ``"über-uns"``), so Arabic or German headings keep ids.
    """
    value = unicodedata.normalize("NFKC", text).casefold()
    value = _DROP.sub("", value)
    value = _DASHES.sub("-", value).strip("-")
    return value or "section"


def heading_anchor(text: str, seen: dict[str, int], *, label: str = "") -> str:
    """A unique id for a heading within one document.

    ``seen`` belongs to the document being rendered/extracted and is updated in place: the second
    "Getting started" becomes ``getting-started-1``, the third ``getting-started-2``, and a literal
    heading "Getting started 1" that comes later gets ``getting-started-1-1`` rather than a duplicate.
    An explicit label (MyST ``(label)=``) is used as the id when it is a valid one.
    """
    base = label.strip() if label and _LABEL.match(label.strip()) else slugify_heading(text)
    candidate = base
    count = seen.get(base, 0)
    while candidate in seen:
        count += 1
        candidate = f"{base}-{count}"
    if candidate != base:
        seen[base] = count
    seen[candidate] = 0
    return candidate
