"""Reading a knowledge source for the index: what a live page or document says (blocks, extracted from
the file for a document), who may see it, and the chunks it becomes, with deterministic ids."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from datacollection.storage import local_copy
from knowledgebase.chunking import ChunkDraft, chunk_blocks
from knowledgebase.conf import chunking_options
from knowledgebase.extraction import extract_file
from knowledgebase.extraction.base import Block, BlockKind
from knowledgebase.models import KnowledgeDocument, KnowledgePage
from knowledgebase.sources import document_access, page_access, page_blocks
from search import services as search_services
from search.errors import KnowledgeError
from search.values import Chunk, embedding_text, source_key, text_hash
from search.visibility import Access


class DuplicateDocument(KnowledgeError):
    default_code = "duplicate"


@dataclass(frozen=True, kw_only=True)
class SourceContent:
    title: str
    url: str
    revision_id: int | None
    access: Access
    blocks: list[Block]
    stats: dict[str, Any]
    source_path: str = ""


def _page_content(page: KnowledgePage) -> SourceContent:
    return SourceContent(
        title=page.title,
        url=page.get_url() or page.url_path,
        revision_id=page.live_revision_id,
        access=page_access(page),
        blocks=page_blocks(page),
        stats={"blocks": len(page.body)},
        source_path=page.source_path,
    )


def _document_content(document: KnowledgeDocument) -> SourceContent:
    # Only a document the same audience already sees counts as a duplicate: another user's private file
    # must neither block this one nor be named in its error.
    candidates = (
        KnowledgeDocument.objects.filter(file_hash=document.file_hash, live=True, pk__lt=document.pk)
        .exclude(file_hash="")
        .order_by("pk")
    )
    if document.audience == KnowledgeDocument.Audience.PRIVATE:
        candidates = candidates.filter(
            owner_id=document.owner_id, audience=KnowledgeDocument.Audience.PRIVATE
        )
    else:
        candidates = candidates.filter(audience=KnowledgeDocument.Audience.SHARED)
    duplicate = candidates.first()
    if duplicate is not None:
        raise DuplicateDocument(
            f"Same content as “{duplicate.title}” ({duplicate.get_url()}); not indexed twice.",
            extra={"duplicate_of": duplicate.pk, "url": duplicate.get_url()},
        )
    # A path on disk for the sandboxed extractor: a decrypted temporary copy when files are encrypted.
    with local_copy(document.file) as path:
        extracted = extract_file(path, filename=document.filename)
    blocks = list(extracted.blocks)
    if document.description:
        blocks.insert(0, Block(kind=BlockKind.PARAGRAPH, text=document.description))
    return SourceContent(
        title=document.title or extracted.title,
        url=document.get_url(),
        revision_id=document.live_revision_id,
        access=document_access(document),
        blocks=blocks,
        stats=extracted.stats(),
    )


def source_content(obj: KnowledgePage | KnowledgeDocument) -> SourceContent:
    return _page_content(obj) if isinstance(obj, KnowledgePage) else _document_content(obj)


def _capped(drafts: list[ChunkDraft], *, content: SourceContent, limit: int) -> list[ChunkDraft]:
    """The first ``limit`` passages. When there are more, the source's stats (saved with its indexed
    version, shown on its status panel) say how many were left out and from which page or section."""
    if len(drafts) <= limit:
        return drafts
    first_left_out = drafts[limit]
    where = (
        f"page {first_left_out.page_number}"
        if first_left_out.page_number
        else (" › ".join(first_left_out.heading_path) or f"passage {limit + 1}")
    )
    content.stats["truncated"] = {"kept": limit, "total": len(drafts), "from": where}
    return drafts[:limit]


def source_chunks(source_type: str, source_id: int, content: SourceContent) -> list[Chunk]:
    """Chunks of a source with deterministic ids: the hash of what is embedded, so unchanged passages keep
    their id (and their vector) across revisions."""
    embedder = search_services.index_embedder()
    options = chunking_options()
    drafts = chunk_blocks(
        content.blocks,
        title=content.title,
        count_tokens=embedder.count_tokens,
        passage_tokens=min(options["PASSAGE_TOKENS"], embedder.max_tokens),
        overlap_tokens=options["OVERLAP_TOKENS"],
        context_tokens=options["CONTEXT_TOKENS"],
    )
    drafts = _capped(drafts, content=content, limit=options["MAX_PASSAGES"])
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for draft in drafts:
        chunk = Chunk(
            source_type=source_type,
            source_id=source_id,
            chunk_id="",
            text=draft.text,
            title=content.title,
            heading_path=draft.heading_path,
            anchor=draft.anchor,
            page_number=draft.page_number,
            url=content.url,
            revision=content.revision_id,
            visibility=content.access.visibility,
            group_ids=content.access.group_ids,
            owner_id=content.access.owner_id,
            context=draft.context,
            position=draft.position,
            source_path=content.source_path,
        )
        digest = text_hash(embedding_text(chunk))
        repeat = seen.get(digest, 0)
        seen[digest] = repeat + 1
        chunk_id = f"{source_key(source_type, source_id)}:{digest[:20]}" + (f"-{repeat}" if repeat else "")
        chunks.append(replace(chunk, chunk_id=chunk_id, content_hash=digest))
    return chunks
