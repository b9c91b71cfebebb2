"""Heading ids for extracted documents, so a citation's ``#anchor`` deep-links to its heading.

The slug and the numbering of repeats are the same as ``knowledgebase.anchors.heading_anchor``, which
the page renderer uses: Django's ``slugify(allow_unicode=True)`` cut to 80 characters, the first
"Getting started" → ``getting-started``, the second → ``getting-started-1``. On top of that this one
honours explicit MyST labels and never hands out an id twice in one document (a literal heading
"Getting started 1" after two "Getting started" gets ``getting-started-1-1``).
"""

from __future__ import annotations

import re

from django.utils.text import slugify

_LABEL = re.compile(r"^[A-Za-z0-9][\w.:-]*$")


def slugify_heading(text: str) -> str:
    """``"Getting started!"`` → ``"getting-started"``; letters beyond ASCII stay (``"über-uns"``)."""
    return slugify(text, allow_unicode=True)[:80].strip("-") or "section"


def heading_anchor(text: str, seen: dict[str, int], *, label: str = "") -> str:
    """A unique id for a heading within one document; ``seen`` belongs to that document and is updated
    in place (it maps each id handed out, or slug seen, to how many times it has been used)."""
    label = label.strip()
    if label and _LABEL.match(label) and label not in seen:
        seen[label] = 1
        return label
    base = slugify_heading(text)
    count = seen.get(base, 0)
    candidate = base if count == 0 else f"{base}-{count}"
    while candidate in seen and candidate != base:
        count += 1
        candidate = f"{base}-{count}"
    seen[base] = count + 1
    if candidate != base:
        seen[candidate] = seen.get(candidate, 0) + 1
    return candidate
