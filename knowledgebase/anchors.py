"""Stable ids for headings: the rendered page and the chunker compute them the same way, in document
order, so a citation's `url#anchor` lands on the heading its chunk came from. One function serves pages
and extracted files alike (it lives with extraction)."""

from knowledgebase.extraction.anchors import heading_anchor

__all__ = ["heading_anchor"]
