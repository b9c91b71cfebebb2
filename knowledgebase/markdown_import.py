"""Markdown (including the MyST flavour of Wagtail's docs) → the StreamField of a KnowledgePage.

Headings become heading blocks (so they get ids and split chunks), fenced code becomes code blocks, tables
become table blocks, and everything between them becomes rich text. MyST roles and directives are reduced
to what a reader needs: their text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.front_matter import front_matter_plugin

# {doc}`Text <path>` / {ref}`label` / {meth}`~pkg.Class.method` → "Text" / "label" / "pkg.Class.method"
_ROLE = re.compile(r"\{[\w:-]+\}`([^`]*)`")
_LABEL_LINE = re.compile(r"^\s*\(([^)]+)\)=\s*$", re.M)
_SKIP_DIRECTIVES = {"toctree", "contents", "include", "literalinclude", "image", "figure", "raw"}
_ADMONITIONS = {
    "note",
    "warning",
    "tip",
    "important",
    "attention",
    "caution",
    "danger",
    "hint",
    "seealso",
    "admonition",
}


def _role_text(match: re.Match[str]) -> str:
    text = match.group(1)
    explicit = re.match(r"^(.*?)\s*<[^>]+>$", text, re.S)
    if explicit and explicit.group(1).strip():
        return f"`{explicit.group(1).strip()}`" if "(" in explicit.group(1) else explicit.group(1).strip()
    return f"`{text.lstrip('~!').strip()}`"


@dataclass
class ParsedMarkdown:
    title: str = ""
    summary: str = ""
    blocks: list[tuple[str, Any]] = field(default_factory=list)
    # The front matter, for keys the importer acts on (visibility, groups); unparsable YAML leaves it empty.
    meta: dict[str, Any] = field(default_factory=dict)


def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table").use(front_matter_plugin)


def _table_value(tokens: list[Token]) -> dict[str, Any]:
    rows: list[list[str]] = []
    row: list[str] = []
    for token in tokens:
        if token.type == "tr_open":
            row = []
        elif token.type == "inline":
            row.append(token.content.strip())
        elif token.type == "tr_close":
            rows.append(row)
    return {
        "data": rows,
        "first_row_is_table_header": True,
        "first_col_is_header": False,
        "table_caption": "",
    }


def _fence(token: Token, md: MarkdownIt) -> tuple[str, Any] | None:
    info = token.info.strip()
    directive = re.match(r"^\{([\w-]+)\}\s*(.*)$", info)
    if not directive:
        return ("code", {"language": info.split()[0] if info else "", "code": token.content.rstrip("\n")})
    name, argument = directive.group(1), directive.group(2).strip()
    if name in {"code-block", "code", "sourcecode"}:
        body = re.sub(r"^:[\w-]+:.*\n", "", token.content, flags=re.M)
        return ("code", {"language": argument.split()[0] if argument else "", "code": body.strip("\n")})
    if name in _SKIP_DIRECTIVES or name == "eval-rst":
        return None
    # Admonitions, versionadded/changed, deprecated …: keep their content, labelled.
    body = re.sub(r"^:[\w-]+:.*\n", "", token.content, flags=re.M).strip()
    label = argument if name == "admonition" else name.replace("-", " ").capitalize()
    if name in {"versionadded", "versionchanged", "deprecated"}:
        label = f"{label} {argument}".strip()
    html = md.render(_ROLE.sub(_role_text, body)) if body else ""
    return ("paragraph", f"<p><b>{label}:</b></p>{html}" if html else f"<p><b>{label}</b></p>")


def _front_matter_read(token: Token, parsed: ParsedMarkdown) -> None:
    try:
        meta = yaml.safe_load(token.content) or {}
    except yaml.YAMLError:
        meta = {}
    if isinstance(meta, dict):
        parsed.meta = meta
        parsed.title = heading_text(str(meta.get("title") or ""))
        parsed.summary = str(meta.get("description") or meta.get("summary") or "")


@cache
def _inline_parser() -> MarkdownIt:
    # One parser for every heading: building one costs more than parsing a heading (a rule chain per call).
    return _markdown()


def _label_text(target: str) -> str:
    """The readable part of a target MyST resolves by label: `image_renditions` → "image renditions"."""
    label = target.split("#")[-1] or target
    label = label.rstrip("/").rsplit("/", 1)[-1].removesuffix(".md")
    return re.sub(r"[_-]+", " ", label).strip()


def heading_text(source: str) -> str:
    """A heading's (or a front-matter title's) inline Markdown as plain text, the way a reader sees it: MyST
    roles give their text, code and emphasis lose their markers, a link gives its text, and MyST's
    `[](label)` (text filled in by Sphinx from the target) gives the label, not a raw target."""
    source = _ROLE.sub(lambda m: _role_text(m), source)
    inline = _inline_parser().parseInline(source)
    parts: list[str] = []
    link_start: int | None = None
    link_target = ""
    for token in inline[0].children or [] if inline else []:
        if token.type in {"text", "code_inline"}:
            parts.append(token.content)
        elif token.type in {"softbreak", "hardbreak"}:
            parts.append(" ")
        elif token.type == "image":
            parts.append(token.content)
        elif token.type == "link_open":
            link_start, link_target = len(parts), str(token.attrGet("href") or "")
        elif token.type == "link_close":
            if link_start is not None and not "".join(parts[link_start:]).strip():
                parts.append(_label_text(link_target))
            link_start = None
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def parse_markdown(text: str, *, fallback_title: str) -> ParsedMarkdown:
    md = _markdown()
    source = _LABEL_LINE.sub("", text)
    tokens = md.parse(source)
    parsed = ParsedMarkdown()
    html_parts: list[str] = []

    def flush() -> None:
        html = "".join(html_parts).strip()
        if html:
            parsed.blocks.append(("paragraph", html))
        html_parts.clear()

    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "front_matter":
            _front_matter_read(token, parsed)
            i += 1
        elif token.type == "heading_open":
            level = int(token.tag[1])
            heading = heading_text(tokens[i + 1].content)
            if level == 1 and not parsed.title:
                parsed.title = heading
            else:
                flush()
                parsed.blocks.append(
                    ("heading", {"text": heading[:255], "level": f"h{min(max(level, 2), 4)}"})
                )
            i += 3
        elif token.type == "fence" or token.type == "code_block":
            flush()
            block = (
                _fence(token, md)
                if token.type == "fence"
                else ("code", {"language": "", "code": token.content})
            )
            if block:
                parsed.blocks.append(block)
            i += 1
        elif token.type == "table_open":
            flush()
            end = next(j for j in range(i, len(tokens)) if tokens[j].type == "table_close")
            parsed.blocks.append(("table", _table_value(tokens[i : end + 1])))
            i = end + 1
        else:
            end = _block_end(tokens, i)
            chunk = tokens[i : end + 1]
            for t in chunk:
                if t.type == "inline":
                    t.content = _ROLE.sub(_role_text, t.content)
                    t.children = md.parseInline(t.content)[0].children if t.content else []
            html_parts.append(md.renderer.render(chunk, md.options, {}))
            i = end + 1
    flush()
    parsed.title = parsed.title or fallback_title
    _unlink_local(parsed)
    return parsed


def _block_end(tokens: list[Token], start: int) -> int:
    """Index of the token closing the top-level block that starts at `start`."""
    if tokens[start].nesting != 1:
        return start
    depth = 0
    for j in range(start, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j
    return len(tokens) - 1


_LOCAL_LINK = re.compile(r'<a href="(?!https?://|mailto:)[^"]*">(.*?)</a>', re.S)
_IMAGE = re.compile(r'<img src="[^"]*" alt="([^"]*)"[^>]*>')
_IMAGE_PARAGRAPH = re.compile(r"<p>\s*(?:<img [^>]*>\s*)+</p>\s*")


def _unlink_local(parsed: ParsedMarkdown) -> None:
    """Links to other Markdown files and images do not survive the import: keep their text.

    An image standing alone in its paragraph goes, alt text and all: the page cannot show the picture,
    and its alt text left as a sentence of its own ("Wagtail admin sidebar menu, showing a 'Calendar' menu
    item with a date icon") was the whole extractive answer to how to add an admin view to the sidebar
    (chatbot/RAG.md). An image inside a sentence keeps its alt text, part of what the sentence says."""
    blocks = []
    for kind, value in parsed.blocks:
        if kind == "paragraph":
            value = _IMAGE.sub(r"\1", _LOCAL_LINK.sub(r"\1", _IMAGE_PARAGRAPH.sub("", value))).strip()
            if not value:
                continue
        blocks.append((kind, value))
    parsed.blocks = blocks
