"""Citation markers in generated text: `[n]` must name a numbered source the answer was given.

The model's numbers are never trusted: a marker whose number is not an allowed source (unknown, or dropped
by the visibility re-check) is removed, while streaming, so the client never sees it. Lists a model may
write (`[1, 3]`, `[1][3]`) are normalised to `[1][3]`.
"""

from __future__ import annotations

import re
from collections.abc import Collection

# Up to three digits per number: no knowledge answer has 1000 sources, and a year in brackets ("[2024]")
# is then not a marker either.
_MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
# Adjacent markers ("[3][1]") are filtered as one run, so removing the first keeps the space before the
# run for the second.
_RUN = re.compile(r"(\s*)((?:\[\d{1,3}(?:\s*,\s*\d{1,3})*\])+)")
# What may still become a marker (or the whitespace before one) at the end of a streamed piece.
_PENDING = re.compile(r"\s*(?:\[\d{1,3}(?:\s*,\s*\d{1,3})*\])*(?:\[[\d,\s]{0,24})?$")


def cited_numbers(text: str) -> list[int]:
    """The numbers cited in `text`, in order of first citation."""
    found: list[int] = []
    for match in _MARKER.finditer(text):
        for part in match.group(1).split(","):
            number = int(part)
            if number not in found:
                found.append(number)
    return found


def markers_filter(text: str, *, allowed: Collection[int]) -> str:
    """`text` with every marker reduced to its allowed numbers; a marker with none left is removed together
    with the whitespace before it ("as shown [9]." → "as shown.")."""

    def replace(match: re.Match[str]) -> str:
        kept = [n for n in cited_numbers(match.group(2)) if n in allowed]
        if not kept:
            return ""
        return match.group(1) + "".join(f"[{n}]" for n in kept)

    return _RUN.sub(replace, text)


class MarkerStreamFilter:
    """`markers_filter` over a token stream: holds back a trailing run of markers, a partial one (`[`,
    `[1`, `[1,`) and the whitespace before them until the next piece decides, so the emitted text equals
    filtering the whole text at once."""

    def __init__(self, *, allowed: Collection[int]) -> None:
        self.allowed = frozenset(allowed)
        self._pending = ""

    def feed(self, text: str) -> str:
        buffer = self._pending + text
        match = _PENDING.search(buffer)
        cut = match.start() if match else len(buffer)
        self._pending = buffer[cut:]
        return markers_filter(buffer[:cut], allowed=self.allowed)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return markers_filter(rest, allowed=self.allowed)
