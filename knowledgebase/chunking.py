"""Structure-aware chunking: small embedded passages inside larger answer contexts.

The default embedder reads 256 word-pieces, while an LLM answers best from ~1,000-token stretches of a
source. So each chunk carries two texts:

- `text`, a passage that fits the embedder's window together with its "title › headings" prefix, so every
  token of indexed text is embedded (split at headings, then between blocks, then sentences, then words —
  never inside a word), with a little overlap so a sentence cut at a boundary is found from either side;
- `context`, the section around the passage (up to `context_tokens`), which the chat gives the LLM.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from knowledgebase.extraction.base import Block, BlockKind

TokenCounter = Callable[[str], int]

# A sentence ends at . ! ? followed by space and an upper-case letter, digit or opening quote/bracket;
# "e.g. foo", "for_request()." and "v1.2" stay whole because the next character does not qualify.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


@dataclass(frozen=True, kw_only=True)
class ChunkDraft:
    text: str
    context: str
    heading_path: tuple[str, ...]
    anchor: str
    page_number: int | None
    position: int


@dataclass(frozen=True)
class _Unit:
    text: str
    tokens: int
    page_number: int | None


@dataclass
class _Section:
    heading_path: tuple[str, ...]
    anchor: str
    units: list[_Unit]


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _split_words(text: str, budget: int, count_tokens: TokenCounter) -> list[str]:
    """Pieces of at most `budget` tokens, cut between words (a single over-long word is cut by characters)."""
    pieces: list[str] = []
    current: list[str] = []
    for word in text.split():
        candidate = " ".join([*current, word])
        if current and count_tokens(candidate) > budget:
            pieces.append(" ".join(current))
            current = [word]
        else:
            current.append(word)
        while count_tokens(" ".join(current)) > budget and len(current) == 1 and len(current[0]) > 1:
            word = current[0]
            cut = max(1, len(word) * budget // max(count_tokens(word), 1) - 1)
            pieces.append(word[:cut])
            current = [word[cut:]]
    if current:
        pieces.append(" ".join(current))
    return pieces


def _units(block: Block, budget: int, count_tokens: TokenCounter) -> list[_Unit]:
    text = block.text.strip()
    if not text:
        return []
    tokens = count_tokens(text)
    if tokens <= budget:
        return [_Unit(text, tokens, block.page_number)]
    # Code and tables split by lines (sentences mean nothing there); prose by sentences.
    parts = text.splitlines() if block.kind in {BlockKind.CODE, BlockKind.TABLE, BlockKind.LIST} else None
    parts = [p for p in (parts or split_sentences(text)) if p.strip()]
    units: list[_Unit] = []
    for part in parts:
        part_tokens = count_tokens(part)
        if part_tokens <= budget:
            units.append(_Unit(part, part_tokens, block.page_number))
        else:
            units.extend(
                _Unit(piece, count_tokens(piece), block.page_number)
                for piece in _split_words(part, budget, count_tokens)
            )
    return units


def _sections(blocks: Sequence[Block], budget: int, count_tokens: TokenCounter) -> list[_Section]:
    sections: list[_Section] = []
    current = _Section(heading_path=(), anchor="", units=[])
    for block in blocks:
        # A heading opens a section; so does a change of heading path (PDF outlines emit no heading blocks).
        if block.kind == BlockKind.HEADING or block.heading_path != current.heading_path:
            if current.units:
                sections.append(current)
            current = _Section(heading_path=block.heading_path, anchor=block.anchor, units=[])
            if block.kind == BlockKind.HEADING:
                continue
        current.units.extend(_units(block, budget, count_tokens))
    if current.units:
        sections.append(current)
    return sections


def _context(units: list[_Unit], start: int, end: int, context_tokens: int) -> str:
    """The passage's units plus neighbours on both sides, as long as the budget allows."""
    used = sum(u.tokens for u in units[start:end])
    lo, hi = start, end
    while used < context_tokens and (lo > 0 or hi < len(units)):
        grew = False
        if hi < len(units) and used + units[hi].tokens <= context_tokens:
            used += units[hi].tokens
            hi += 1
            grew = True
        if lo > 0 and used + units[lo - 1].tokens <= context_tokens:
            lo -= 1
            used += units[lo].tokens
            grew = True
        if not grew:
            break
    return "\n\n".join(u.text for u in units[lo:hi])


def _prefix(title: str, heading_path: tuple[str, ...]) -> str:
    where = " › ".join(part for part in (title, *heading_path) if part)
    return f"{where}\n" if where else ""


def chunk_blocks(
    blocks: Sequence[Block],
    *,
    title: str,
    count_tokens: TokenCounter,
    passage_tokens: int,
    overlap_tokens: int,
    context_tokens: int,
) -> list[ChunkDraft]:
    """Chunk extracted blocks. `passage_tokens` bounds prefix + passage as the embedder counts them."""
    drafts: list[ChunkDraft] = []
    min_budget = max(16, passage_tokens // 4)
    for section in _sections(blocks, passage_tokens, count_tokens):
        # The prefix is embedded with every passage, so it is paid from the same window.
        budget = max(min_budget, passage_tokens - count_tokens(_prefix(title, section.heading_path)))
        units = [u for unit in section.units for u in _refit(unit, budget, count_tokens)]
        start = 0
        while start < len(units):
            end, used = start, 0
            while end < len(units) and (end == start or used + units[end].tokens <= budget):
                used += units[end].tokens
                end += 1
            drafts.append(
                ChunkDraft(
                    text="\n".join(u.text for u in units[start:end]),
                    context=_context(units, start, end, context_tokens),
                    heading_path=section.heading_path,
                    anchor=section.anchor,
                    page_number=units[start].page_number,
                    position=len(drafts),
                )
            )
            if end >= len(units):
                break
            # Step back over trailing units worth at most `overlap_tokens`, always moving forward.
            back, carried = end, 0
            while back - 1 > start and carried + units[back - 1].tokens <= overlap_tokens:
                back -= 1
                carried += units[back].tokens
            start = back
    return drafts


def _refit(unit: _Unit, budget: int, count_tokens: TokenCounter) -> list[_Unit]:
    if unit.tokens <= budget:
        return [unit]
    return [
        _Unit(piece, count_tokens(piece), unit.page_number)
        for sentence in split_sentences(unit.text)
        for piece in (
            _split_words(sentence, budget, count_tokens) if count_tokens(sentence) > budget else [sentence]
        )
    ]
