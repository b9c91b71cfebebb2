"""ExtractedDocument <-> JSON, for the sandbox child's answer."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .base import Block, BlockKind, ExtractedDocument


def document_to_dict(document: ExtractedDocument) -> dict[str, Any]:
    return asdict(document)


def document_from_dict(data: dict[str, Any]) -> ExtractedDocument:
    blocks = [
        Block(
            kind=BlockKind(block["kind"]),
            text=block["text"],
            heading_path=tuple(block.get("heading_path") or ()),
            anchor=block.get("anchor", ""),
            page_number=block.get("page_number"),
            level=block.get("level", 0),
            language=block.get("language", ""),
        )
        for block in data.get("blocks", [])
    ]
    return ExtractedDocument(
        title=data.get("title", ""),
        blocks=blocks,
        pages=data.get("pages", 0),
        characters=data.get("characters", 0),
        images_ocrd=data.get("images_ocrd", 0),
        warnings=list(data.get("warnings", [])),
        encoding=data.get("encoding", ""),
        peak_rss_bytes=data.get("peak_rss_bytes", 0),
    )
