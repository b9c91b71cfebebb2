"""Plain text and Markdown (CommonMark + tables + the MyST syntax the Wagtail docs use)."""

from __future__ import annotations

import re
import time
from functools import lru_cache
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode
from mdit_py_plugins.colon_fence import colon_fence_plugin
from mdit_py_plugins.front_matter import front_matter_plugin
from mdit_py_plugins.myst_blocks import myst_block_plugin
from mdit_py_plugins.myst_role import myst_role_plugin

from .base import BlockKind, ExtractedDocument
from .builder import DocumentBuilder
from .markdown_segments import markdown_segments

# Wall-clock spent parsing Markdown structure before the rest of a file is read as plain text: a
# legitimate 24 MB Markdown file parses in ~45 s on one core (~10 MB in this budget), a hostile one would
# take minutes; chunking the rest takes as long again, and a verdict should come within a minute.
MARKDOWN_BUDGET_SECONDS = 20.0

_TAGS = re.compile(r"<[^>]+>")
# An HTML element a reader never sees (hidden, display:none, visibility:hidden, zero-size or white text):
# not knowledge, and where an instruction aimed at the assistant hides.
_HIDDEN_ATTRS = (
    r"""(?:\shidden(?=[\s=/>])|\sstyle\s*=\s*["'][^"']*"""
    r"""(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?![.\d]*[1-9])|"""
    r"""(?<![-\w])color\s*:\s*(?:white|\#fff(?:fff)?\b|rgb\(\s*255\s*,\s*255\s*,\s*255\s*\))))"""
)
_HIDDEN_OPEN = re.compile(rf"^<([a-z][\w-]*)\b[^>]*?{_HIDDEN_ATTRS}[^>]*>$", re.I)
_HIDDEN_ELEMENT = re.compile(rf"<([a-z][\w-]*)\b[^>]*?{_HIDDEN_ATTRS}[^>]*>.*?</\1\s*>", re.I | re.S)
_OPTION_LINE = re.compile(r"^:[\w-]+:.*$")
_DIRECTIVE = re.compile(r"^\{([\w:.-]+)\}\s*(.*)$")
_MAX_DIRECTIVE_DEPTH = 8

# Directives whose body is a list of paths/names, not prose worth answering from.
_SKIPPED_DIRECTIVES = {
    "toctree",
    "contents",
    "include",
    "literalinclude",
    "autoclass",
    "automodule",
    "autofunction",
}
_CODE_DIRECTIVES = {"code", "code-block", "sourcecode", "code-cell"}
_VERSION_DIRECTIVES = {
    "versionadded": "New in version",
    "versionchanged": "Changed in version",
    "deprecated": "Deprecated since version",
}


def extract_text(text: str, *, title_hint: str = "") -> ExtractedDocument:
    builder = DocumentBuilder(title=title_hint)
    _plain(builder, text)
    return builder.finish()


def _plain(builder: DocumentBuilder, text: str) -> None:
    for paragraph in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        builder.add(BlockKind.PARAGRAPH, paragraph)


def extract_markdown(
    text: str, *, title_hint: str = "", budget_seconds: float | None = None
) -> ExtractedDocument:
    """Headings (with MyST ``(label)=`` anchors), paragraphs, code with its language, tables and lists.

    YAML front matter is read with ``yaml.safe_load`` (its ``title`` names the document) and never emitted
    as text; MyST directives keep their content and lose their markup.

    Large files are parsed segment by segment (``markdown_segments``); once ``budget_seconds`` have gone,
    the remaining segments are read as plain text, so hostile Markdown finishes in bounded time with
    every word kept and a warning, instead of running into the sandbox's wall clock.
    """
    builder = DocumentBuilder()
    deadline = time.monotonic() + budget_seconds if budget_seconds is not None else None
    front_title = ""
    parsed = False  # the first segment is always parsed (its front matter names the document)
    for segment in markdown_segments(text):
        if not segment.parse:
            builder.warn(
                f"A block of {len(segment.text):,} characters was too long to parse: read as plain text."
            )
            _plain(builder, segment.text)
        elif deadline is not None and parsed and time.monotonic() > deadline:
            builder.warn(
                f"Parsing the Markdown took more than {budget_seconds:.0f} seconds; the rest of the file "
                "was read as plain text."
            )
            _plain(builder, segment.text)
        else:
            front_title = _walk(builder, _parser().parse(segment.text), depth=0) or front_title
            parsed = True
    document = builder.finish()
    document.title = front_title or document.title or title_hint
    return document


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return (
        MarkdownIt("commonmark")
        .enable("table")
        .use(front_matter_plugin)
        .use(myst_block_plugin)
        .use(colon_fence_plugin)
        .use(myst_role_plugin)
    )


def _walk(builder: DocumentBuilder, tokens: list[Any], *, depth: int) -> str:
    """Emits blocks for the top-level nodes; returns the front matter's title, if any."""
    title = ""
    label = ""
    for node in SyntaxTreeNode(tokens).children:
        if node.type == "front_matter":
            title = _front_matter_title(builder, node.content)
        elif node.type == "myst_target":
            label = node.content.strip()
            continue
        elif node.type == "heading":
            builder.heading(_inline(node), level=int(node.tag[1:]), label=label)
        else:
            _block(builder, node, depth=depth)
        label = ""
    return title


def _block(builder: DocumentBuilder, node: SyntaxTreeNode, *, depth: int) -> None:
    kind = node.type
    if kind == "paragraph":
        builder.add(BlockKind.PARAGRAPH, _inline(node))
    elif kind in {"fence", "code_block", "colon_fence"}:
        _fence(builder, node, depth=depth)
    elif kind == "table":
        builder.add(BlockKind.TABLE, _table(node))
    elif kind in {"bullet_list", "ordered_list"}:
        builder.add(BlockKind.LIST, "\n".join(_list_lines(node, indent=0)))
    elif kind == "blockquote":
        for child in node.children:
            _block(builder, child, depth=depth)
    elif kind == "html_block":
        visible = _HIDDEN_ELEMENT.sub(" ", re.sub(r"<!--.*?-->", " ", node.content, flags=re.S))
        builder.add(BlockKind.PARAGRAPH, _TAGS.sub(" ", visible))
    # hr, myst_line_comment, myst_block_break and anything unknown carry no prose.


def _fence(builder: DocumentBuilder, node: SyntaxTreeNode, *, depth: int) -> None:
    info = (node.info or "").strip()
    directive = _DIRECTIVE.match(info)
    if directive is None:
        builder.add(BlockKind.CODE, node.content, language=info.split()[0] if info else "")
        return
    name, argument = directive.group(1), directive.group(2).strip()
    body = _strip_directive_options(node.content)
    if name in _SKIPPED_DIRECTIVES:
        return
    if name in _CODE_DIRECTIVES:
        builder.add(BlockKind.CODE, body, language=argument.split()[0] if argument else "")
        return
    if name == "eval-rst" or depth >= _MAX_DIRECTIVE_DEPTH:
        builder.add(BlockKind.PARAGRAPH, body)
        return
    if name in _VERSION_DIRECTIVES:
        body = f"{_VERSION_DIRECTIVES[name]} {argument}: {body}" if argument else body
    elif argument:
        body = f"{argument}\n\n{body}"
    # Admonitions and friends hold Markdown themselves: parse it in place, under the same headings.
    for child in SyntaxTreeNode(_parser().parse(body)).children:
        if child.type == "heading":
            builder.add(BlockKind.PARAGRAPH, _inline(child))
        else:
            _block(builder, child, depth=depth + 1)


def _strip_directive_options(content: str) -> str:
    lines = content.split("\n")
    if lines and lines[0].strip() == "---":  # YAML-style options block
        try:
            end = lines.index("---", 1)
        except ValueError:
            end = -1
        if end > 0:
            lines = lines[end + 1 :]
    while lines and _OPTION_LINE.match(lines[0].strip()):
        lines = lines[1:]
    return "\n".join(lines).strip("\n")


def _front_matter_title(builder: DocumentBuilder, content: str) -> str:
    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError:
        builder.warn("The YAML front matter could not be read and was ignored.")
        return ""
    if isinstance(data, dict) and isinstance(data.get("title"), str | int | float):
        return str(data["title"]).strip()
    return ""


def _inline(node: SyntaxTreeNode) -> str:
    parts: list[str] = []
    for child in node.children:
        if child.type == "inline":
            parts.append(_inline_children(child))
    return " ".join(part for part in parts if part)


def _inline_children(node: SyntaxTreeNode) -> str:
    out: list[str] = []
    hidden = ""  # the tag of an open hidden element: its content is skipped until it closes
    for child in node.children:
        kind = child.type
        if hidden:
            if kind == "html_inline" and re.match(rf"</{re.escape(hidden)}\s*>", child.content, re.I):
                hidden = ""
            continue
        if kind == "html_inline" and (opened := _HIDDEN_OPEN.match(child.content.strip())):
            hidden = opened.group(1)
            continue
        if kind in {"text", "code_inline"}:
            out.append(child.content)
        elif kind == "softbreak":
            out.append(" ")
        elif kind == "hardbreak":
            out.append("\n")
        elif kind == "myst_role":
            out.append(_role_text(child.content))
        elif kind == "html_inline":
            continue
        elif child.children:  # strong, em, link, image (alt text)
            out.append(_inline_children(child))
    return "".join(out).strip()


def _role_text(content: str) -> str:
    """``{ref}`the docs <target>``` reads as "the docs"; ``{doc}`path``` as "path"."""
    match = re.match(r"^(.*?)\s*<[^<>]*>$", content.strip(), flags=re.S)
    text = match.group(1) if match and match.group(1) else content
    return text.strip().lstrip("~!")


def _table(node: SyntaxTreeNode) -> str:
    rows: list[str] = []
    for section in node.children:
        for row in section.children:
            cells = [_inline_children(cell.children[0]) if cell.children else "" for cell in row.children]
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _list_lines(node: SyntaxTreeNode, *, indent: int) -> list[str]:
    lines: list[str] = []
    ordered = node.type == "ordered_list"
    number = int(node.attrs.get("start", 1) or 1) if ordered else 0
    for item in node.children:
        marker = f"{number}." if ordered else "-"
        number += 1
        first = True
        for child in item.children:
            if child.type in {"bullet_list", "ordered_list"}:
                lines.extend(_list_lines(child, indent=indent + 1))
                continue
            text = _inline(child) if child.type == "paragraph" else child.content.strip()
            if not text:
                continue
            prefix = "  " * indent + (f"{marker} " if first else "  ")
            lines.append(prefix + text)
            first = False
    return lines
