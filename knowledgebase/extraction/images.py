"""Image sizes from headers and the pixel limit, shared by extraction and the upload check (Pillow only,
so the check's child need not import OCR)."""

from __future__ import annotations

import io

from PIL import Image

from .limits import ExtractionLimits


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the header only (Pillow opens lazily); None when it is not an image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (OSError, Image.DecompressionBombError, ValueError, SyntaxError):
        return None


def pixels_allowed(width: int, height: int, *, limits: ExtractionLimits) -> bool:
    return width * height <= limits.image_max_pixels


def skipped_image(what: str, width: int, height: int) -> str:
    """The warning for an image too large to decode safely: the rest of the file is still read."""
    return f"{what} is {width}x{height} pixels, too large to read safely; it was skipped and the rest kept."
