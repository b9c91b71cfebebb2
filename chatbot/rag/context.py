"""From retrieved hits to the numbered sources an answer is given: merged by section, ordered by rank,
within a token budget.

Chunks carry `text` (the embedded passage) and `context` (the section around it, up to ~1000 tokens).
Several hits of one section would repeat that section: they become one block, numbered once, so the model
(and the reader of the citations) sees each section once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from search.values import Chunk, Hit

# A separator between passages of one section whose text the kept context does not already hold.
_GAP = "\n…\n"
EXCERPT_CHARS = 300


@dataclass(frozen=True, kw_only=True)
class ContextSource:
    """One numbered source of an answer: a section (or passage) of a page or document."""

    number: int
    chunk: Chunk  # the best-ranked chunk of the block: what a citation points to
    chunk_ids: tuple[str, ...]  # every retrieved chunk merged into this block
    text: str  # what the model reads
    score: float
    scores: dict[str, float]

    @property
    def key(self) -> tuple[str, int]:
        return (self.chunk.source_type, self.chunk.source_id)

    def citation(self) -> dict[str, object]:
        """The `source` event / Message.sources shape (see chatbot.events.StreamEvent)."""
        chunk = self.chunk
        url = f"{chunk.url}#{chunk.anchor}" if chunk.url and chunk.anchor else chunk.url
        return {
            "number": self.number,
            "source_type": chunk.source_type,
            "source_id": chunk.source_id,
            "chunk_id": chunk.chunk_id,
            "title": chunk.title,
            "section": chunk.section,
            "url": url,
            "anchor": chunk.anchor,
            "page_number": chunk.page_number,
            "excerpt": excerpt(chunk.text),
            "chunk_index": chunk.position,
            # The same measure as CHATBOT_RAG MIN_RELEVANCE when the vector leg scored the chunk.
            "relevance_score": round(self.scores.get("knn", self.score), 4),
        }

    def place(self) -> dict[str, object]:
        """Where the source is, without what it says: a decline's related pages (`Message.related`)."""
        citation = self.citation()
        return {key: citation[key] for key in _PLACE_KEYS}


_PLACE_KEYS = ("source_type", "source_id", "title", "section", "url", "anchor", "page_number")


_FENCE_LINE = re.compile(r"^\s*(?:`{3,}|~{3,})")
_LIST_MARKER = re.compile(r"^\s*[-*+]\s+")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def excerpt(text: str, *, limit: int = EXCERPT_CHARS) -> str:
    """A passage as one line of plain text for a source card: list items marked "•", inline code without
    its backticks, code fences dropped (the passage keeps its Markdown for the answerer)."""
    lines = (_LIST_MARKER.sub("• ", line) for line in text.splitlines() if not _FENCE_LINE.match(line))
    flat = _CODE_SPAN.sub(r"\1", " ".join(" ".join(lines).split()))
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + "…"


@dataclass
class _Block:
    hits: list[Hit]
    text: str


def _block_key(chunk: Chunk) -> tuple[str, tuple[str, ...], int | None]:
    return (chunk.source_key, chunk.heading_path, chunk.page_number)


def _merge(hits: Sequence[Hit]) -> list[_Block]:
    """Hits of the same section (same source, heading path, page) → one block, in order of the best hit."""
    blocks: dict[tuple[str, tuple[str, ...], int | None], _Block] = {}
    seen_chunks: set[str] = set()
    for hit in sorted(hits, key=lambda h: h.rank):
        chunk = hit.chunk
        if chunk.chunk_id in seen_chunks:
            continue
        seen_chunks.add(chunk.chunk_id)
        key = _block_key(chunk)
        block = blocks.get(key)
        if block is None:
            blocks[key] = _Block(hits=[hit], text=(chunk.context or chunk.text).strip())
            continue
        block.hits.append(hit)
        passage = chunk.text.strip()
        context = (chunk.context or "").strip()
        if passage and passage in block.text:
            continue
        if context and block.text in context:
            block.text = context  # an overlapping, larger window of the same section
        elif passage:
            block.text = f"{block.text}{_GAP}{passage}"
    return list(blocks.values())


def context_build(
    hits: Sequence[Hit],
    *,
    token_budget: int,
    max_sources: int,
    count_tokens: Callable[[str], int],
) -> list[ContextSource]:
    """Numbered sources [1]..[n] in rank order, whose texts together fit `token_budget`.

    A block whose section does not fit falls back to its best passage (the chunk `text`, a few hundred
    tokens); a block that does not fit even so is left out, and later smaller ones may still fit."""
    sources: list[ContextSource] = []
    used = 0
    for block in _merge(hits):
        if len(sources) >= max_sources:
            break
        best = block.hits[0]
        text = block.text
        cost = count_tokens(text)
        if used + cost > token_budget:
            text = best.chunk.text.strip()
            cost = count_tokens(text)
            if not text or used + cost > token_budget:
                continue
        used += cost
        sources.append(
            ContextSource(
                number=len(sources) + 1,
                chunk=best.chunk,
                chunk_ids=tuple(h.chunk.chunk_id for h in block.hits),
                text=text,
                score=best.score,
                scores=dict(best.scores),
            )
        )
    return sources
