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
# Longest text handed to the tokenizer in one call: a passage of 256 word-pieces is ~1-2 thousand
# characters, so anything longer is over budget and only needs splitting, not counting.
_MAX_COUNTED_CHARS = 16_000
# Word-pieces cover ~4-5 characters of prose; a text over 8 characters a token of budget is taken as
# over budget without counting it (if it was not, it is only split further: passages stay within budget).
_CHARS_PER_TOKEN_BOUND = 8


def _counted(budget: int) -> int:
    """Texts longer than this are split without being counted whole first."""
    return min(_MAX_COUNTED_CHARS, _CHARS_PER_TOKEN_BOUND * budget)


_LANGUAGE_JUNK = re.compile(r"[^\w+.#-]")
# Distinct words whose counts are remembered while splitting one over-long text (bounded memory).
_WORD_CACHE = 50_000


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
    # The ordinal of the code block this unit is (part of), None for prose: the context fences each code
    # block, so an answer can tell code from the sentence that introduces it.
    code_block: int | None = None
    language: str = ""


@dataclass
class _Section:
    heading_path: tuple[str, ...]
    anchor: str
    units: list[_Unit]
    budget: int = 0


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _split_words(text: str, budget: int, count_tokens: TokenCounter) -> list[tuple[str, int]]:
    """Pieces of at most `budget` tokens with their counts, cut between words (a single over-long word
    is cut by characters).

    Linear in the text: each distinct word is counted once and the counts are summed (word-piece
    tokenizers split at spaces first, so counts add up); only each finished piece is counted whole, to
    check. Re-counting the growing piece after every word made a 2 MB single-line text take minutes."""
    overhead = count_tokens("")
    cache: dict[str, int] = {}
    pieces: list[tuple[str, int]] = []
    current: list[str] = []
    used = overhead
    for word in text.split():
        tokens = cache.get(word)
        if tokens is None:
            tokens = max(count_tokens(word) - overhead, 1) if len(word) <= _counted(budget) else budget + 1
            if len(cache) < _WORD_CACHE:
                cache[word] = tokens
        if overhead + tokens > budget:
            pieces.extend(_checked(current, budget, count_tokens))
            current, used = [], overhead
            pieces.extend(_cut_word(word, budget, count_tokens))
            continue
        if current and used + tokens > budget:
            pieces.extend(_checked(current, budget, count_tokens))
            current, used = [], overhead
        current.append(word)
        used += tokens
    pieces.extend(_checked(current, budget, count_tokens))
    return pieces


def _checked(words: list[str], budget: int, count_tokens: TokenCounter) -> list[tuple[str, int]]:
    """The summed estimate, verified; halves again for a counter whose counts do not add up."""
    if not words:
        return []
    text = " ".join(words)
    tokens = count_tokens(text)
    if len(words) == 1 or tokens <= budget:
        return [(text, tokens)]
    half = len(words) // 2
    return _checked(words[:half], budget, count_tokens) + _checked(words[half:], budget, count_tokens)


def _cut_word(word: str, budget: int, count_tokens: TokenCounter) -> list[tuple[str, int]]:
    """A "word" longer than a passage (a base64 blob, a URL-encoded line): cut by characters at the
    characters-per-token rate measured on the previous piece, so each piece is counted about once (16 MB
    of "[a](" took 56 s with a cut-and-recount per piece), never handing the tokenizer more than a few
    times the budget in characters."""
    pieces: list[tuple[str, int]] = []
    window = max(4 * budget, 64)
    rate = 0.0  # characters per token of the last piece
    rest = word
    while rest:
        head = rest[: max(1, int(budget * rate * 0.95))] if rate else rest[:window]
        tokens = count_tokens(head)
        while tokens > budget and len(head) > 1:
            head = head[: max(1, len(head) * budget // tokens - 1)]
            tokens = count_tokens(head)
        pieces.append((head, tokens))
        rate = min(len(head) / max(tokens, 1), window / max(budget, 1))
        rest = rest[len(head) :]
    return pieces


def _units(block: Block, budget: int, count_tokens: TokenCounter, ordinal: int = 0) -> list[_Unit]:
    units = _plain_units(block, budget, count_tokens)
    if block.kind != BlockKind.CODE:
        return units
    return [
        _Unit(u.text, u.tokens, u.page_number, code_block=ordinal, language=block.language) for u in units
    ]


def _plain_units(block: Block, budget: int, count_tokens: TokenCounter) -> list[_Unit]:
    text = block.text.strip()
    if not text:
        return []
    # A block of megabytes is never tokenized whole (a 20 MB single-line text made the tokenizer's
    # buffers grow to gigabytes); it is over any budget anyway.
    tokens = count_tokens(text) if len(text) <= _counted(budget) else budget + 1
    if tokens <= budget:
        return [_Unit(text, tokens, block.page_number)]
    # Code and tables split by lines (sentences mean nothing there); prose by sentences.
    parts = text.splitlines() if block.kind in {BlockKind.CODE, BlockKind.TABLE, BlockKind.LIST} else None
    parts = [p for p in (parts or split_sentences(text)) if p.strip()]
    units: list[_Unit] = []
    for part in parts:
        part_tokens = count_tokens(part) if len(part) <= _counted(budget) else budget + 1
        if part_tokens <= budget:
            units.append(_Unit(part, part_tokens, block.page_number))
        else:
            units.extend(
                _Unit(piece, tokens, block.page_number)
                for piece, tokens in _split_words(part, budget, count_tokens)
            )
    return units


def _sections(
    blocks: Sequence[Block], budget_of: Callable[[tuple[str, ...]], int], count_tokens: TokenCounter
) -> list[_Section]:
    """Units are cut to their section's own budget (the window less its prefix) from the start: cutting
    them to the window and then again to the budget counted every long text twice."""
    sections: list[_Section] = []
    current = _Section(heading_path=(), anchor="", units=[], budget=budget_of(()))
    for ordinal, block in enumerate(blocks):
        # A heading opens a section; so does a change of heading path (PDF outlines emit no heading blocks).
        if block.kind == BlockKind.HEADING or block.heading_path != current.heading_path:
            if current.units:
                sections.append(current)
            path = block.heading_path
            current = _Section(heading_path=path, anchor=block.anchor, units=[], budget=budget_of(path))
            if block.kind == BlockKind.HEADING:
                continue
        current.units.extend(_units(block, current.budget, count_tokens, ordinal))
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
    return _joined(units[lo:hi])


def _joined(units: Sequence[_Unit]) -> str:
    """Units as Markdown-like text: blank lines between blocks, each code block (or the part of one in
    the window) inside a fence with its language."""
    parts: list[str] = []
    index = 0
    while index < len(units):
        unit = units[index]
        if unit.code_block is None:
            parts.append(unit.text)
            index += 1
            continue
        end = index
        while end < len(units) and units[end].code_block == unit.code_block:
            end += 1
        body = "\n".join(u.text for u in units[index:end])
        fence = "````" if "```" in body else "```"
        language = _LANGUAGE_JUNK.sub("", unit.language)[:40]  # typed by an editor: one word, no backticks
        parts.append(f"{fence}{language}\n{body}\n{fence}")
        index = end
    return "\n\n".join(parts)


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
    budgets: dict[tuple[str, ...], int] = {}

    def budget_of(path: tuple[str, ...]) -> int:
        # The prefix is embedded with every passage, so it is paid from the same window.
        if path not in budgets:
            budgets[path] = max(min_budget, passage_tokens - count_tokens(_prefix(title, path)))
        return budgets[path]

    for section in _sections(blocks, budget_of, count_tokens):
        budget, units = section.budget, section.units
        start = 0
        while start < len(units):
            end, used = start, 0
            page = units[start].page_number
            # A passage stays on one page, so the page it cites holds every word of it.
            while end < len(units) and (
                end == start or (used + units[end].tokens <= budget and units[end].page_number == page)
            ):
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
            # A new page starts afresh: carried units would put the previous page's words under this one.
            back, carried = end, 0
            while (
                back - 1 > start
                and carried + units[back - 1].tokens <= overlap_tokens
                and units[back - 1].page_number == units[end].page_number
            ):
                back -= 1
                carried += units[back].tokens
            start = back
    return drafts
