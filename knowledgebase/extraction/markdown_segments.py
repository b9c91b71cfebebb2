"""Large Markdown files are parsed in segments, so their time and memory stay bounded.

markdown-it-py needs 2-10 µs per character on hostile input (a run of ``[``, ``*a `` or ``[a](``,
measured: 64 KB of brackets in 0.67 s) and holds every token of the document at once (a 24 MB
Markdown file took 44 s and 1.16 GB in one parse). Cut at blank lines outside fenced blocks and front
matter, each segment is a complete run of Markdown blocks: the structure is the same except for
reference-style links whose definition is in another segment.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

# Segments are about this long (blocks are never cut, so one may be longer).
SEGMENT_CHARS = 64 * 1024
# A single block (no blank line in it) longer than this is read as plain text: ~2.5 s of parsing at the
# hostile rate above, and no real paragraph, list or table is this long.
MAX_BLOCK_CHARS = 256 * 1024
# Documents up to this size are parsed whole, exactly as before (reference links and all).
WHOLE_DOCUMENT_CHARS = 256 * 1024

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,}|:{3,})")


@dataclass(frozen=True)
class Segment:
    text: str
    parse: bool  # False: one block too long to parse, read as plain text


def markdown_segments(text: str) -> Iterator[Segment]:
    """Consecutive pieces of ``text`` that join back to it, each ending at a blank line or the end."""
    if len(text) <= WHOLE_DOCUMENT_CHARS:
        yield Segment(text, parse=True)
        return
    lines = text.splitlines(keepends=True)
    start = block_start = _front_matter_end(lines)
    pending = "".join(lines[:start])  # front matter goes with the first segment
    size, fence = len(pending), ""
    for index, line in enumerate(lines[start:], start):
        size += len(line)
        fence = _fence_state(line, fence)
        at_end = index == len(lines) - 1
        if (fence or line.strip()) and not at_end:
            continue
        end = index + 1
        block_size = sum(len(part) for part in lines[block_start:end])
        if block_size > MAX_BLOCK_CHARS:
            before = pending + "".join(lines[start:block_start])
            if before:
                yield Segment(before, parse=True)
            yield Segment("".join(lines[block_start:end]), parse=False)
            pending, start, size = "", end, 0
        elif size >= SEGMENT_CHARS or at_end:
            yield Segment(pending + "".join(lines[start:end]), parse=True)
            pending, start, size = "", end, 0
        block_start = end


def _front_matter_end(lines: list[str]) -> int:
    """Index after a leading ``---`` ... ``---`` block (it may hold blank lines), else 0."""
    if not lines or lines[0].strip() != "---":
        return 0
    for index in range(1, min(len(lines), 2000)):
        if lines[index].strip() in {"---", "..."}:
            return index + 1
    return 0


def _fence_state(line: str, fence: str) -> str:
    """The open fence's marker after ``line`` ("" when outside any fence)."""
    match = _FENCE.match(line)
    if not match:
        return fence
    marker = match.group(1)
    if not fence:
        return marker
    if marker[0] == fence[0] and len(marker) >= len(fence) and not line.strip()[len(marker) :].strip():
        return ""
    return fence
