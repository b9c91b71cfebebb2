"""Markdown-aware sentence splitting and term analysis for extractive answers.

Kept dependency-free and fast (pure regular expressions): the extractive answer must cost a few
milliseconds next to retrieval.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

# Fenced blocks whose body is prose worth quoting (MyST admonitions); every other fence is code or
# navigation (```python, ```{toctree}, ```{eval-rst}, ...) and is dropped.
_PROSE_DIRECTIVES = {
    "note",
    "warning",
    "tip",
    "hint",
    "important",
    "attention",
    "caution",
    "danger",
    "admonition",
    "seealso",
    "versionadded",
    "versionchanged",
    "deprecated",
}
_FENCE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\s*(\{([\w-]+)\}|[\w+-]*)")
_BLOCK_START = re.compile(r"^\s*(?:[-*+]\s+|\d+[.)]\s+|>\s*)")
_HEADING = re.compile(r"^\s*#{1,6}\s")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")
_SKIP_LINE = re.compile(r"^\s*(?:\(.+\)=\s*$|<!--|\.\. |:[\w-]+:\s|-{3,}\s*$|={3,}\s*$)")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_ROLE = re.compile(r"\{[\w:-]+\}`([^`<]*?)\s*(?:<[^>]*>)?`")
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_CODE_SPAN = re.compile(r"`[^`]+`")
# What a cross-reference with no text of its own leaves behind: "add them to the index - see ." or "(see )".
_DANGLING_SEE = re.compile(r"\s*(?:[-–—]\s*|\()see\s*\)?(?=\s*[.;,:]|\s*$)", re.IGNORECASE)

# A boundary: terminal punctuation, optional closing quotes/brackets, whitespace, then something that can
# start a sentence. A period inside `for_request()`, `README.md` or `wagtail.models` has no whitespace
# after it, so identifiers and file names are never split.
_BOUNDARY = re.compile(r"[.!?][\"')\]]*\s+(?=[A-Z0-9\"'(\[`*\x00])")
_ABBREVIATIONS = {"e.g", "i.e", "etc", "vs", "cf", "approx", "no", "fig", "eg", "ie", "mr", "mrs", "dr", "st"}
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can cannot could did do does doing done down during each either else even
    ever every few for from further get gets getting had has have having he her here hers him his how i if
    in into is it its itself just let like make may me might more most must my need needs no nor not now of
    off on once one only or other our ours out over own please same she should so some such than that the
    their theirs them then there these they this those through to too under until up us very want wants was
    way we were what when where whether which while who whom why will with within without would yes yet
    you your yours anyone someone something anything thing things there's isn't don't doesn't i'm
    possible able tell know""".split()
)
_WORD = re.compile(r"[A-Za-z0-9]+(?:[_'][A-Za-z0-9]+)*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def clean_inline(text: str) -> str:
    """Markdown inline syntax → readable text; code spans keep their backticks."""
    text = _ROLE.sub(lambda m: f"`{m.group(1)}`" if m.group(1) else "", text)
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _HTML_TAG.sub("", text)
    text = _DANGLING_SEE.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


def prose_blocks(markdown: str) -> Iterator[str]:
    """Paragraphs, list items, quotes and table rows of prose; code, headings and directives dropped."""
    reader = _ProseReader()
    for line in markdown.splitlines():
        yield from reader.read(line)
    yield from reader.flush()


class _ProseReader:
    """The line-by-line state of `prose_blocks`: the block being gathered and the fence we are in."""

    def __init__(self) -> None:
        self.block: list[str] = []
        self.fence: str | None = None  # the closing marker of the fence we are in
        self.keep_fence = False  # the fence is a prose directive (a note, a tip): its lines are prose

    def flush(self) -> Iterator[str]:
        if self.block:
            yield " ".join(self.block)
            self.block = []

    def read(self, line: str) -> Iterator[str]:
        if self.fence is not None:
            yield from self._fenced(line)
            return
        opening = _FENCE.match(line)
        if opening:
            yield from self.flush()
            self.fence = opening.group(1)
            self.keep_fence = (opening.group(3) or "") in _PROSE_DIRECTIVES
            return
        stripped = line.strip()
        if not stripped or _HEADING.match(line) or _SKIP_LINE.match(line) or _TABLE_RULE.match(line):
            yield from self.flush()
            return
        if line.startswith("    ") and not self.block:  # an indented code block
            return
        if stripped.startswith("|"):
            yield from self.flush()
            cells = [c.strip() for c in stripped.strip("|").split("|") if c.strip()]
            if cells:
                yield "; ".join(cells) + "."
            return
        if _BLOCK_START.match(line) and self.block:
            yield from self.flush()
        self.block.append(_BLOCK_START.sub("", line, count=1).strip() if not self.block else stripped)

    def _fenced(self, line: str) -> Iterator[str]:
        fence = self.fence or ""
        if line.strip().startswith(fence) and line.strip().strip(fence[0]) == "":
            self.fence = None
            yield from self.flush()
            return
        if self.keep_fence and not re.match(r"^\s*:[\w-]+:", line):  # skip directive options (:class: x)
            if line.strip():
                self.block.append(line.strip())
            else:
                yield from self.flush()


def split_sentences(text: str) -> list[str]:
    """Sentences of one prose block, leaving code spans, identifiers and abbreviations intact."""
    spans: list[str] = []

    def protect(match: re.Match[str]) -> str:
        spans.append(match.group(0))
        return f"\x00{len(spans) - 1}\x00"

    protected = _CODE_SPAN.sub(protect, clean_inline(text))
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(protected):
        word = re.search(r"([\w.]+)[.!?][\"')\]]*$", protected[start : match.start() + 1])
        if word and word.group(1).lower() in _ABBREVIATIONS:
            continue
        end = match.end()
        sentences.append(protected[start:end].strip())
        start = end
    sentences.append(protected[start:].strip())
    return [_PLACEHOLDER.sub(lambda m: spans[int(m.group(1))], s) for s in sentences if s]


def markdown_sentences(markdown: str) -> list[str]:
    return [sentence for block in prose_blocks(markdown) for sentence in split_sentences(block)]


_LIST_ITEM = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+(.*)$")
# A list a sentence introduces is quoted with it up to this size; a longer one is cut with "…".
_LIST_MAX_ITEMS = 12
_LIST_MAX_CHARS = 1200


class _ListAttacher:
    """Gathers the list a sentence introduces ("The options are:" then "- a", "- b") into its unit."""

    def __init__(self, units: list[tuple[str, str]]) -> None:
        self.units = units
        self.target: int | None = None  # the unit the list being read belongs to
        self.items: list[str] = []

    def item(self, indent: str, marker: str, text: str) -> None:
        if self.target is None:
            if not (self.units and self.units[-1][0].endswith(":") and not self.units[-1][1]):
                return
            self.target, self.items = len(self.units) - 1, []
        self.items.append(f"{'  ' if indent else ''}{marker} {clean_inline(text)}")

    def continued(self, line: str) -> None:
        if self.target is not None and self.items:
            self.items[-1] += " " + clean_inline(line)

    def end(self) -> None:
        if self.target is not None and self.items:
            items, cut = self.items[:_LIST_MAX_ITEMS], len(self.items) > _LIST_MAX_ITEMS
            text = "\n".join(items)
            if len(text) > _LIST_MAX_CHARS:
                text, cut = text[:_LIST_MAX_CHARS].rsplit("\n", 1)[0] or text[:_LIST_MAX_CHARS], True
            sentence, _ = self.units[self.target]
            self.units[self.target] = (sentence, text + ("\n- …" if cut else ""))
        self.target, self.items = None, []


# A sentence that announces what follows it: "For example, this configuration only allows Vimeo.", "Add
# the code below." (a colon always does).
_INTRODUCES = re.compile(
    r"\b(?:for example|for instance|e\.g\.|as follows|the following|like this|like so|below|an example)\b",
    re.IGNORECASE,
)


def introduces(sentence: str) -> bool:
    """Whether a sentence ending a paragraph introduces the code block right after it."""
    return sentence.endswith(":") or bool(_INTRODUCES.search(sentence))


def markdown_units(markdown: str) -> list[tuple[str, str]]:
    """Answer units: each prose sentence with the block it introduces ("" for none), as
    `(sentence, block)`. A sentence introduces the code block or the list that follows its paragraph
    directly when it ends with a colon ("Add this to settings.py:", "The options are:"), a code block also
    when the sentence announces one ("For example, this configuration …", `introduces`); the code keeps
    its fence and language, so an answer can show it as code; the list keeps its markers (up to
    `_LIST_MAX_ITEMS` items). The list's items are still units of their own too. Other code (and every
    directive) is left out, as in `markdown_sentences`."""
    units: list[tuple[str, str]] = []
    reader = _ProseReader()
    listing = _ListAttacher(units)
    code: list[str] | None = None
    fence = opener = ""

    def add(blocks: Iterator[str]) -> None:
        units.extend((sentence, "") for block in blocks for sentence in split_sentences(block))

    for line in markdown.splitlines():
        if code is not None:
            if line.strip().startswith(fence) and line.strip().strip(fence[0]) == "":
                if units and introduces(units[-1][0]) and not units[-1][1] and any(c.strip() for c in code):
                    units[-1] = (units[-1][0], "\n".join([opener, *code, fence]))
                code = None
            else:
                code.append(line)
            continue
        item = _LIST_ITEM.match(line) if reader.fence is None else None
        if item:
            add(reader.flush())  # the paragraph before it ends here (as the reader would end it)
            listing.item(*item.groups())
        elif line.strip() and reader.fence is None:
            if line[:1].isspace() and listing.target is not None:
                listing.continued(line)
            else:
                listing.end()
        opening = _FENCE.match(line) if reader.fence is None else None
        if opening and not opening.group(3):  # a plain code fence (```python), not a {directive}
            add(reader.flush())
            fence, opener, code = opening.group(1), line.strip(), []
            continue
        add(reader.read(line))
    add(reader.flush())
    listing.end()
    return units


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A deliberately tiny suffix stripper: word forms must meet, not be linguistically right.

    Plural first, then -ing/-ed, so `settings`, `setting` and `set` all give `set`.
    """
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) >= 5:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "ches", "shes", "xes", "zes")) and len(word) >= 5:
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix, min_len in (("ing", 6), ("ed", 5)):
        if word.endswith(suffix) and len(word) >= min_len:
            word = word[: -len(suffix)]
            if len(word) >= 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # running → run, setting → set
            break
    return word


def terms(text: str) -> set[str]:
    """Content terms: lower-cased, stemmed, stop words dropped; identifiers also give their parts.

    `SiteSpecificSettings.for_request()` yields `for_request`, `request`, `sitespecificsetting`, `site`,
    `specific`, `setting`, so a question that spells the words out still meets the identifier.
    """
    found: set[str] = set()
    for word in _WORD.findall(text):
        found.update(_word_terms(word))
    return found


@functools.lru_cache(maxsize=65536)
def _word_terms(word: str) -> tuple[str, ...]:
    lower = word.lower().replace("'", "")
    found = [] if lower in STOPWORDS or len(lower) < 2 else [stem(lower)]
    if "_" in word or (word[1:] != word[1:].lower() and word != word.upper()):
        parts = [p.lower() for chunk in word.split("_") for p in _CAMEL.findall(chunk)]
        if len(parts) > 1:
            found.extend(stem(p) for p in parts if p not in STOPWORDS and len(p) > 1)
    return tuple(found)
