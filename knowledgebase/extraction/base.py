"""What extraction produces from a file or a page: ordered blocks of text that keep their structure."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class BlockKind(StrEnum):
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    CODE = "code"
    TABLE = "table"
    LIST = "list"
    IMAGE_TEXT = "image_text"  # OCR output or alt text / caption of an image


@dataclass(frozen=True, kw_only=True)
class Block:
    """One structural unit. `heading_path` is the chain of headings above it (a HEADING block's own path
    ends with its own text); `anchor` is the id of the nearest heading (matches the rendered page);
    `page_number` is 1-based for paginated files, None otherwise."""

    kind: BlockKind
    text: str
    heading_path: tuple[str, ...] = ()
    anchor: str = ""
    page_number: int | None = None
    level: int = 0  # heading level (1-6) for HEADING blocks
    language: str = ""  # CODE blocks: the fence's language ("python"), when given


@dataclass(kw_only=True)
class ExtractedDocument:
    title: str = ""
    blocks: list[Block] = field(default_factory=list)
    pages: int = 0
    characters: int = 0
    images_ocrd: int = 0
    warnings: list[str] = field(default_factory=list)
    encoding: str = ""  # text files: the encoding they were read in ("UTF-16", "Shift_JIS")
    # Peak resident memory of the sandbox child and the processes it ran (tesseract, pdftoppm); 0 when
    # extracted in-process. For operators (`manage.py extract`) and benchmarks, not for the index.
    peak_rss_bytes: int = field(default=0, compare=False)

    def stats(self) -> dict[str, object]:
        stats: dict[str, object] = {
            "pages": self.pages,
            "characters": self.characters,
            "images_ocrd": self.images_ocrd,
            "warnings": list(self.warnings),
        }
        if self.encoding:
            stats["encoding"] = self.encoding
        return stats
