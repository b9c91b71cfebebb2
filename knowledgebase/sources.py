"""Selectors for knowledge sources: what a page or document says (as blocks), where it lives and who may
see it. Everything the indexer needs is read here from the live, published state."""

from __future__ import annotations

from bs4 import BeautifulSoup
from wagtail.models import Page

from knowledgebase.extraction.base import Block, BlockKind
from knowledgebase.models import KnowledgeDocument, KnowledgePage
from knowledgebase.models.indexing import SourceType
from search.values import Visibility
from search.visibility import Access


def _restrictions_access(restrictions: list) -> Access:
    """Combine Wagtail view restrictions (a page's and its ancestors'; a collection's) into one rule.

    All of them apply at once, so the strictest wins: a password (which a chat cannot ask for) hides the
    content from everyone; several group restrictions leave only the groups common to all of them.
    """
    if not restrictions:
        return Access(visibility=Visibility.PUBLIC)
    kinds = {r.restriction_type for r in restrictions}
    if "password" in kinds:
        return Access(visibility=Visibility.GROUPS, group_ids=())
    group_sets = [
        set(r.groups.values_list("pk", flat=True)) for r in restrictions if r.restriction_type == "groups"
    ]
    if group_sets:
        return Access(visibility=Visibility.GROUPS, group_ids=tuple(sorted(set.intersection(*group_sets))))
    return Access(visibility=Visibility.LOGIN)


def page_access(page: Page) -> Access:
    return _restrictions_access(list(page.get_view_restrictions()))


def document_access(document: KnowledgeDocument) -> Access:
    if document.audience == KnowledgeDocument.Audience.PRIVATE:
        return Access(visibility=Visibility.OWNER, owner_id=document.owner_id)
    restrictions = list(document.collection.get_view_restrictions()) if document.collection else []
    return _restrictions_access(restrictions)


# Elements that start a line of their own; everything else (links, bold, inline code) flows in its line.
_BLOCK_TAGS = (
    "p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "tr",
    "dl", "dt", "dd", "figure", "figcaption", "hr",
)  # fmt: skip


def rich_text_to_text(html: str) -> str:
    """Readable text from rich text HTML: one line per paragraph or list item (marked "- "), inline
    elements kept in their line and inline code in backticks, as Markdown writes it (the extractive
    answerer reads passages as Markdown). Separating every text node with a newline, as this once did,
    cut "start at <code>100</code> and" into three lines and lost the list marker of an item that
    begins with code."""
    soup = BeautifulSoup(html, "html.parser")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for code in soup.find_all("code"):
        if code.find_parent("pre") is None and code.get_text().strip():
            code.insert(0, "`")
            code.append("`")
    for item in soup.find_all("li"):
        item.insert(0, "- ")
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    lines = (" ".join(line.split()) for line in soup.get_text().splitlines())
    return "\n".join(line for line in lines if line and line != "-")


def _table_text(value: dict) -> str:
    rows = value.get("data") or []
    return "\n".join(" | ".join(str(cell or "").strip() for cell in row) for row in rows if any(row))


def page_blocks(page: KnowledgePage) -> list[Block]:
    """The page as extraction blocks, headings with the same ids the rendered page gives them."""
    blocks: list[Block] = []
    if page.summary:
        blocks.append(Block(kind=BlockKind.PARAGRAPH, text=page.summary))
    path: list[tuple[int, str]] = []  # (level, text)
    anchor = ""
    for rendered in page.body_with_anchors():
        block, value = rendered.block, rendered.block.value
        kind = block.block_type
        if kind == "heading":
            level = int(str(value["level"]).lstrip("h") or 2)
            path = [(lvl, text) for lvl, text in path if lvl < level] + [(level, value["text"])]
            anchor = rendered.anchor
            blocks.append(
                Block(
                    kind=BlockKind.HEADING,
                    text=value["text"],
                    heading_path=_texts(path),
                    anchor=anchor,
                    level=level,
                )
            )
            continue
        text, block_kind, language = _block_text(kind, value)
        if text:
            blocks.append(
                Block(kind=block_kind, text=text, heading_path=_texts(path), anchor=anchor, language=language)
            )
    return blocks


def _texts(path: list[tuple[int, str]]) -> tuple[str, ...]:
    return tuple(text for _, text in path)


def _block_text(kind: str, value: object) -> tuple[str, BlockKind, str]:
    """A body block's text, its kind, and (for code) its language."""
    if kind == "paragraph":
        return rich_text_to_text(str(getattr(value, "source", value))), BlockKind.PARAGRAPH, ""
    if kind == "code":
        return str(value["code"]), BlockKind.CODE, str(value.get("language") or "")  # type: ignore[index,attr-defined]
    if kind == "table":
        return _table_text(value), BlockKind.TABLE, ""  # type: ignore[arg-type]
    if kind == "figure":
        image = value["image"]  # type: ignore[index]
        parts = [getattr(image, "contextual_alt_text", "") or "", value["caption"] or ""]  # type: ignore[index]
        return " — ".join(p for p in parts if p), BlockKind.IMAGE_TEXT, ""
    if kind == "document":
        document = value["document"]  # type: ignore[index]
        if document is None:
            return "", BlockKind.PARAGRAPH, ""
        return f"Attached document: {document.title}. {document.description}".strip(), BlockKind.PARAGRAPH, ""
    return "", BlockKind.PARAGRAPH, ""


def source_object(source_type: str, source_id: int) -> KnowledgePage | KnowledgeDocument | None:
    """The live object behind a source, or None when it is gone or not published."""
    if source_type == SourceType.PAGE:
        return KnowledgePage.objects.live().filter(pk=source_id).first()
    if source_type == SourceType.DOCUMENT:
        return KnowledgeDocument.objects.filter(pk=source_id, live=True).first()
    raise ValueError(f"unknown source type {source_type!r}")
