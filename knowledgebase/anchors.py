"""Stable ids for headings: the rendered page and the chunker compute them the same way, in document
order, so a citation's `url#anchor` lands on the heading its chunk came from."""

from __future__ import annotations

from django.utils.text import slugify


def heading_anchor(text: str, seen: dict[str, int]) -> str:
    """`Getting started` → `getting-started`; a repeat in the same document → `getting-started-1`."""
    base = slugify(text, allow_unicode=True)[:80].strip("-") or "section"
    count = seen.get(base, 0)
    seen[base] = count + 1
    return base if count == 0 else f"{base}-{count}"
