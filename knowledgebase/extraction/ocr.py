"""Tesseract OCR of page renders and embedded images, bounded in pixels and time."""

from __future__ import annotations

import io
import os
import statistics
import subprocess  # fixed argv, no shell
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytesseract
from PIL import Image

from .builder import clean_text
from .errors import CorruptFile, ExtractionLimitExceeded, UnsafeFile
from .images import image_size, pixels_allowed
from .limits import ExtractionLimits
from .ocr_layout import OcrLayout, ocr_lines, page_layout

# Tesseract's LSTM uses OpenMP; on a 2-core worker its threads fight each other (and the other
# worker processes) and OCR gets several times slower (~10x is commonly reported; measured here on an
# A4 page: 3.2 s with OMP_THREAD_LIMIT=1 against 12 s without, see benchmarks/extraction.py). One
# thread per tesseract is the fast setting; parallelism comes from running several workers. The
# tesseract processes inherit it from our environment.
os.environ["OMP_THREAD_LIMIT"] = "1"

# Renders wider/taller than this are scaled down: bounds the memory of huge page sizes at our DPI.
_MAX_RENDER_SIDE = 4000
# OSD's orientation confidence on real text pages here: 17-20; on a line or two of text, below 1, often
# wrong. Under this, the page is read as scanned.
_MIN_ORIENTATION_CONFIDENCE = 2.0
# A page read as it is counts as upright with this many words at this mean confidence (reads_upright).
_UPRIGHT_MIN_WORDS = 20
_UPRIGHT_MIN_CONFIDENCE = 60.0
# Pictures at least this large (a third of an A4 page at 150 dpi) may be a photographed or scanned page.
ORIENT_MIN_PIXELS = 700_000


def check_pixels(width: int, height: int, *, limits: ExtractionLimits, what: str) -> None:
    if not pixels_allowed(width, height, limits=limits):
        raise UnsafeFile(
            f"{what} is {width}x{height} pixels, past the limit of {limits.image_max_pixels:,} pixels "
            "(a possible decompression bomb).",
            code="image_bomb",
        )


def worth_ocr(width: int, height: int, *, limits: ExtractionLimits) -> bool:
    """Icons, bullets and rules cannot hold a sentence: skip them."""
    return width * height >= limits.ocr_min_image_pixels and min(width, height) >= 24


def upright(image: Image.Image, *, limits: ExtractionLimits) -> tuple[Image.Image, int]:
    """The image turned the right way up by Tesseract's orientation detection (OSD), and the clockwise
    degrees it was turned. A page scanned upside down or at 90°/270° otherwise reads as nothing.

    OSD needs a page's worth of text at its native resolution (at half scale it guessed wrong 3 times in
    4 here) and costs ~1-1.7 s an A4 page against ~3-7 s for recognising it. With too few characters it
    fails: the image is then read as it is."""
    try:
        osd = pytesseract.image_to_osd(
            image, config="--psm 0", timeout=limits.ocr_page_timeout, output_type=pytesseract.Output.DICT
        )
    except (pytesseract.TesseractError, RuntimeError):  # too few characters, no osd data, or a timeout
        return image, 0
    rotate = int(osd.get("rotate", 0)) % 360
    if rotate == 0 or float(osd.get("orientation_conf", 0.0)) < _MIN_ORIENTATION_CONFIDENCE:
        return image, 0
    return image.rotate(-rotate, expand=True), rotate


def ocr_image(image: Image.Image, *, limits: ExtractionLimits, orient: bool = False) -> str:
    """``orient``: detect the orientation first (``upright``); for page scans and large pictures."""
    image = _prepared(image, limits=limits, orient=orient)
    return clean_text(_tesseract(pytesseract.image_to_string, image, limits=limits))


def ocr_page_layout(page: Path, *, limits: ExtractionLimits) -> OcrLayout:
    """A scanned page (a render on disk, ``rendered_page``) read with its layout: headings from the
    type size. Turned upright first only when it reads badly as it is (``reads_upright``): most scans
    are the right way up, and Tesseract's orientation detection costs a third of reading the page."""
    with Image.open(page) as header:
        check_pixels(header.width, header.height, limits=limits, what="A page")
    # The file itself, not a PIL image: pytesseract would write a PNG of it for every call.
    data = _tesseract(
        pytesseract.image_to_data, str(page), limits=limits, output_type=pytesseract.Output.DICT
    )
    if not reads_upright(data):
        with Image.open(page) as image:
            image.load()
            turned, rotation = upright(image, limits=limits)
            if rotation:
                data = _tesseract(
                    pytesseract.image_to_data, turned, limits=limits, output_type=pytesseract.Output.DICT
                )
    layout = page_layout(ocr_lines(data))
    return OcrLayout(
        segments=[(level, clean_text(text)) for level, text in layout.segments if clean_text(text)]
    )


def reads_upright(data: dict[str, list[Any]]) -> bool:
    """Whether a page read as it is gave many confident words, set horizontally. Upright synthetic and
    real scans here: mean word confidence 85-96; the same pages upside down: ~20. Tesseract reads a page
    turned by 90° or 270° too, as vertical lines, with good confidence but boxes taller than wide (and
    so no type sizes to find headings by): such a page is turned as well."""
    words = [
        (float(conf), int(width), int(height), text)
        for conf, width, height, text in zip(
            data.get("conf", []),
            data.get("width", []),
            data.get("height", []),
            data.get("text", []),
            strict=False,
        )
        if str(text).strip()
    ]
    if len(words) < _UPRIGHT_MIN_WORDS or statistics.fmean(w[0] for w in words) < _UPRIGHT_MIN_CONFIDENCE:
        return False
    long_words = [(width, height) for _, width, height, text in words if len(str(text).strip()) >= 4]
    return sum(width > height for width, height in long_words) >= 0.8 * len(long_words)


def _prepared(image: Image.Image, *, limits: ExtractionLimits, orient: bool) -> Image.Image:
    check_pixels(image.width, image.height, limits=limits, what="An image")
    if image.mode not in {"L", "RGB"}:
        image = image.convert("RGB")
    if orient:
        image, _ = upright(image, limits=limits)
    return image


def _tesseract(call: Any, image: Image.Image | str, *, limits: ExtractionLimits, **kwargs: Any) -> Any:
    try:
        return call(image, lang=limits.ocr_languages, timeout=limits.ocr_page_timeout, **kwargs)
    except RuntimeError as e:  # pytesseract raises RuntimeError("Tesseract process timeout")
        raise ExtractionLimitExceeded(
            f"OCR of one page or image took longer than {limits.ocr_page_timeout:.0f} seconds.",
            code="timeout",
        ) from e
    except pytesseract.TesseractError as e:
        raise CorruptFile(f"OCR failed on an image: {e.message}", code="corrupt") from e


def ocr_image_bytes(data: bytes, *, limits: ExtractionLimits) -> str | None:
    """OCR an encoded image (PNG, JPEG...) if it is big enough to hold text; None when skipped."""
    size = image_size(data)
    if size is None or not worth_ocr(*size, limits=limits):
        return None
    check_pixels(*size, limits=limits, what="An image")
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return ocr_image(image, limits=limits, orient=image.width * image.height >= ORIENT_MIN_PIXELS)


@contextmanager
def rendered_page(
    path: Path, *, page_number: int, width_pt: float, height_pt: float, dpi: int, limits: ExtractionLimits
) -> Iterator[Path]:
    """One page rendered in grey at ``dpi`` by poppler's pdftoppm (faster and more faithful than decoding
    the page's images ourselves, and it handles vector text drawn as paths), as an uncompressed PGM in a
    temporary folder that goes when the block ends: Tesseract reads it as it is, nothing re-encodes it."""
    scale_to = min(_MAX_RENDER_SIDE, int(max(width_pt, height_pt, 1.0) / 72.0 * dpi))
    with tempfile.TemporaryDirectory(prefix="kb-ocr-") as tmp:
        target = Path(tmp) / "page"
        argv = [
            "pdftoppm",
            "-gray",
            "-singlefile",
            "-f",
            str(page_number),
            "-l",
            str(page_number),
            "-scale-to",
            str(max(scale_to, 100)),
            str(path),
            str(target),
        ]
        try:
            subprocess.run(  # noqa: S603 - argv list built above from a path we own
                argv, check=True, capture_output=True, timeout=limits.ocr_page_timeout
            )
        except subprocess.TimeoutExpired as e:
            raise ExtractionLimitExceeded(
                f"Rendering page {page_number} for OCR took more than {limits.ocr_page_timeout:.0f} s.",
                code="timeout",
            ) from e
        except (subprocess.CalledProcessError, FileNotFoundError) as e:
            raise CorruptFile(f"Page {page_number} could not be rendered for OCR.", code="corrupt") from e
        yield target.with_suffix(".pgm")
