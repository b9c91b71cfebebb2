"""Headings of scanned pages from Tesseract's layout: a line set in a larger type than the page's body.

Tesseract's TSV output (``image_to_data``) gives every word its box and its block, paragraph and line.
The body size is the median line height of the page, weighted by words; a short line at least 1.4 times
as tall, with letters and without a full stop at its end, is a heading (level 1 from twice the body
size, else 2). Consecutive heading lines of one paragraph are one heading.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

_HEADING_RATIO = 1.4
_TOP_LEVEL_RATIO = 2.0
_MAX_HEADING_WORDS = 12
_MIN_CONFIDENCE = 30.0  # Tesseract's word confidence (0-100); noise specks score below this
_LINE_LEVEL = 4  # TSV rows: 1 page, 2 block, 3 paragraph, 4 line, 5 word


@dataclass(frozen=True, kw_only=True)
class OcrLine:
    key: tuple[int, int, int]  # block, paragraph, line
    words: list[str]
    height: float


@dataclass(frozen=True, kw_only=True)
class OcrLayout:
    """The page in reading order: (0, paragraph text) or (level, heading text)."""

    segments: list[tuple[int, str]]

    @property
    def text(self) -> str:
        return "\n\n".join(text for _, text in self.segments)


def ocr_lines(data: dict[str, list[Any]]) -> list[OcrLine]:
    """Words of ``image_to_data(output_type=DICT)`` grouped into lines, in Tesseract's reading order."""
    lines: dict[tuple[int, int, int], tuple[list[str], list[float]]] = {}
    line_heights: dict[tuple[int, int, int], float] = {}
    for index, word in enumerate(data.get("text", [])):
        key = (int(data["block_num"][index]), int(data["par_num"][index]), int(data["line_num"][index]))
        if int(data["level"][index]) == _LINE_LEVEL:
            line_heights[key] = float(data["height"][index])
        word = str(word).strip()
        if not word or float(data["conf"][index]) < _MIN_CONFIDENCE:
            continue
        words, heights = lines.setdefault(key, ([], []))
        words.append(word)
        heights.append(float(data["height"][index]))
    # The line's box, not its words': a word's box shrinks without ascenders or descenders ("one" against
    # "Bicycles"), a line of body text has both.
    return [
        OcrLine(key=key, words=words, height=line_heights.get(key) or statistics.median(heights))
        for key, (words, heights) in lines.items()
    ]


def page_layout(lines: list[OcrLine]) -> OcrLayout:
    if not lines:
        return OcrLayout(segments=[])
    body = statistics.median([line.height for line in lines for _ in line.words])
    segments: list[tuple[int, str]] = []
    paragraph: list[str] = []
    previous: tuple[int, int] | None = None
    for line in lines:
        level = _heading_level(line, body)
        same_paragraph = previous == line.key[:2]
        if level and same_paragraph and segments and segments[-1][0] == level and not paragraph:
            segments[-1] = (level, f"{segments[-1][1]} {' '.join(line.words)}")  # a heading over two lines
        elif level:
            _flush(segments, paragraph)
            segments.append((level, " ".join(line.words)))
        else:
            if not same_paragraph:
                _flush(segments, paragraph)
            paragraph.append(" ".join(line.words))
        previous = line.key[:2]
    _flush(segments, paragraph)
    return OcrLayout(segments=segments)


def _heading_level(line: OcrLine, body: float) -> int:
    text = " ".join(line.words)
    if (
        body <= 0
        or line.height < _HEADING_RATIO * body
        or len(line.words) > _MAX_HEADING_WORDS
        or text.endswith((".", ",", ";"))
        or sum(ch.isalpha() for ch in text) < 2
    ):
        return 0
    return 1 if line.height >= _TOP_LEVEL_RATIO * body else 2


def _flush(segments: list[tuple[int, str]], paragraph: list[str]) -> None:
    if paragraph:
        segments.append((0, "\n".join(paragraph)))
        paragraph.clear()
