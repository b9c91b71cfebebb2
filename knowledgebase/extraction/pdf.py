"""PDF: text per page, outline headings mapped to pages, form values, OCR of scans and images."""

from __future__ import annotations

import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pypdf import PageObject, PdfReader

from .base import BlockKind, ExtractedDocument
from .builder import DocumentBuilder
from .errors import CorruptFile, ExtractionError, ExtractionLimitExceeded, FileTooLarge, NoTextFound
from .images import pixels_allowed, skipped_image
from .limits import ExtractionLimits
from .ocr import ORIENT_MIN_PIXELS, ocr_image, ocr_page_layout, rendered_page, worth_ocr
from .ocr_layout import OcrLayout
from .pdf_forms import emit_fields, emit_unplaced_fields, resolve
from .pdf_safety import attachments_warning, check_pdf_catalog, check_pdf_objects, open_pdf

# A page with fewer visible characters than this and an image (or nothing at all) is treated as a scan.
_SCANNED_PAGE_CHARS = 20
# Scans of less are rendered at this resolution anyway: Tesseract wants capital letters ~20 px tall,
# which body text reaches at about 150 dpi.
_MIN_SCAN_DPI = 150
_HYPHENATED = re.compile(r"(\w)-\n(?=[a-zäöüßàâçéèêëîïôûùüÿñæœ])")


@dataclass(kw_only=True)
class _Heading:
    level: int
    title: str
    page_index: int
    # Where the bookmark points on its page (PDF user space, y upwards), when its destination says.
    top: float | None = None


@dataclass(kw_only=True)
class _OcrBudget:
    pages: int
    images: int


def extract_pdf(path: Path, *, limits: ExtractionLimits) -> ExtractedDocument:
    reader = open_pdf(path)
    check_pdf_catalog(reader)
    attachments = check_pdf_objects(reader)
    try:
        page_count = len(reader.pages)
    except Exception as e:  # pypdf raises anything on a broken page tree
        raise _corrupt(e) from e
    if page_count > limits.pdf_max_pages:
        raise FileTooLarge(
            f"The PDF has {page_count} pages; at most {limits.pdf_max_pages} are accepted.", code="too_large"
        )
    builder = DocumentBuilder(title=_metadata_title(reader))
    if warning := attachments_warning(attachments):
        builder.warn(warning)
    headings = _outline(reader)
    budget = _OcrBudget(pages=limits.ocr_max_pages, images=limits.ocr_max_images)
    fields_seen: set[str] = set()
    # Scanned pages are rendered and read by `ocr_workers` tesseract processes at once (one thread each,
    # see ocr.py) while the text pages are read; pages are then emitted in order.
    pool = ThreadPoolExecutor(max_workers=max(1, limits.ocr_workers))
    try:
        pages: list[_Page | None] = []
        for index in range(page_count):
            item = _read_page(reader, index, builder=builder)
            if item is not None and _needs_ocr(item.text, item.images) and limits.ocr_enabled:
                item.scan = _submit_scan(pool, path, item, builder=builder, limits=limits, budget=budget)
                item.images = []  # the render covers them
            pages.append(item)
        ocr_pages = 0
        for item in pages:
            if item is not None:
                ocr_pages += _emit_read_page(builder, item, headings=headings, fields_seen=fields_seen)
                if limits.ocr_enabled:
                    _ocr_images(builder, item.page, item.images, limits=limits, budget=budget)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    emit_unplaced_fields(builder, reader, fields_seen)
    document = builder.finish()
    document.pages = page_count
    document.images_ocrd += ocr_pages
    if ocr_pages:
        builder.warn(f"{ocr_pages} page(s) had no text layer and were read with OCR.")
    if not document.characters:
        raise NoTextFound(
            "No text could be found in this PDF: it has no text layer and OCR found none.", code="no_text"
        )
    return document


@dataclass(kw_only=True)
class _Page:
    index: int
    page: PageObject
    text: str
    images: list[Any]
    scan: Future[OcrLayout | None] | None = None


def _read_page(reader: PdfReader, index: int, *, builder: DocumentBuilder) -> _Page | None:
    builder.page_number = index + 1
    try:
        page = reader.pages[index]
        text = _page_text(page)
    except Exception as e:  # noqa: BLE001 - one unreadable page must not lose the others
        builder.warn(f"Page {index + 1} could not be read ({type(e).__name__}); it was skipped.")
        return None
    return _Page(index=index, page=page, text=text, images=_image_keys(page))


def _emit_read_page(
    builder: DocumentBuilder, item: _Page, *, headings: list[_Heading], fields_seen: set[str]
) -> int:
    """Emits one page in order, waiting for its OCR if it was scanned; returns 1 if OCR read it."""
    builder.page_number = item.index + 1
    layout = _scan_result(builder, item)
    read = int(layout is not None)
    if layout is not None and len(layout.text.strip()) <= len(item.text.strip()):
        layout = None  # the text layer had more
    page_headings = [h for h in headings if h.page_index == item.index]
    if layout is not None and not page_headings:
        _emit_ocr_layout(builder, layout)
    elif layout is not None:
        _emit_page(builder, layout.text, page_headings)  # OCR'd text has no positions to place them by
    else:
        _emit_page(builder, item.text, page_headings, item.page)
    fields_seen.update(emit_fields(builder, item.page))
    return read


def _corrupt(e: BaseException) -> ExtractionError:
    return CorruptFile(f"The PDF is damaged and its pages cannot be read ({e}).", code="corrupt")


def _metadata_title(reader: PdfReader) -> str:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # noqa: BLE001 - broken metadata (sample 017) must not block the text
        return ""
    title = " ".join(str(title or "").replace("\x00", "").split())
    return title if 2 < len(title) < 200 and title.casefold() not in {"untitled", "unknown"} else ""


def _outline(reader: PdfReader) -> list[_Heading]:
    headings: list[_Heading] = []

    def walk(items: list[Any], level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            try:
                page_index = reader.get_destination_page_number(item)
            except Exception:  # noqa: BLE001, S112 - a dangling destination just has no page
                continue
            title = " ".join(str(getattr(item, "title", "") or "").split())
            if title and page_index is not None and page_index >= 0:
                headings.append(
                    _Heading(level=level, title=title, page_index=page_index, top=_destination_top(item))
                )

    try:
        walk(list(reader.outline), 1)
    except Exception:  # noqa: BLE001 - a broken outline only costs us the headings
        return []
    return headings


def _destination_top(item: Any) -> float | None:
    try:
        top = getattr(item, "top", None)
        return float(top) if top is not None else None
    except (TypeError, ValueError):
        return None


def _page_text(page: PageObject) -> str:
    # Plain mode, not layout mode: on two-column LaTeX (sample 026) layout mode interleaves the
    # columns line by line, while plain mode follows the content stream, which is in reading order.
    text = page.extract_text() or ""
    return _HYPHENATED.sub(r"\1", text.replace("\r\n", "\n"))


def _needs_ocr(text: str, images: list[Any]) -> bool:
    visible = len("".join(text.split()))
    return visible < _SCANNED_PAGE_CHARS and (bool(images) or visible == 0)


def _emit_page(
    builder: DocumentBuilder, text: str, headings: list[_Heading], page: PageObject | None = None
) -> None:
    """The page's text cut at its outline headings. A heading is placed where its title is printed on a
    line of its own; failing that, at the first line below where its bookmark points (an /XYZ
    destination's top), read from the text layer's positions; failing both, where the previous heading
    was. Bookmarks whose titles differ from the printed headings ("Fifth" for "Chapter five", or
    titles that are wrong altogether, as in the corpus sample 014) otherwise all pile up at one place
    and the page's text falls under the last of them."""
    placed: list[tuple[int, int, _Heading]] = []
    lines: list[tuple[int, float]] | None = None
    cursor = 0
    for heading in headings:
        match = _heading_pattern(heading.title).search(text, cursor)
        if match:
            start, cursor = match.start(), match.end()
            placed.append((start, cursor, heading))
            continue
        at = None
        if heading.top is not None and page is not None:
            lines = _line_positions(page, text) if lines is None else lines
            at = next((offset for offset, y in lines if y <= heading.top + 1), None)
        placed.append((cursor, cursor, heading) if at is None else (at, at, heading))
    position = 0
    for start, end, heading in sorted(placed, key=lambda p: p[0]):  # stable: outline order on ties
        if start >= position:
            _emit_paragraphs(builder, text[position:start])
            position = end
        builder.heading(heading.title, level=heading.level)
    _emit_paragraphs(builder, text[position:])


def _line_positions(page: PageObject, text: str) -> list[tuple[int, float]]:
    """(offset in `text`, baseline y) of each piece of text the page's content stream shows, in
    stream order; pieces not found in `text` (dehyphenated, say) are left out."""
    pieces: list[tuple[str, float]] = []

    def visit(piece: str, cm: list[float], tm: list[float], *_: Any) -> None:
        if piece.strip():
            pieces.append((piece.strip(), tm[4] * cm[1] + tm[5] * cm[3] + cm[5]))

    try:
        page.extract_text(visitor_text=visit)
    except Exception:  # noqa: BLE001 - positions only refine the headings; the text is already read
        return []
    positions, cursor = [], 0
    for piece, y in pieces:
        found = text.find(piece[:40], cursor)
        if found >= 0:
            positions.append((found, y))
            cursor = found + 1
    return positions


def _heading_pattern(title: str) -> re.Pattern[str]:
    """The title on its own line, maybe numbered ("2.1 Results"), spaces and case aside."""
    words = r"\s+".join(re.escape(word) for word in title.split())
    return re.compile(rf"(?im)^[ \t]*(?:[\dIVX]+(?:\.\d+)*\.?\s+)?{words}[ \t]*$\n?")


def _emit_paragraphs(builder: DocumentBuilder, text: str) -> None:
    for paragraph in split_paragraphs(text):
        builder.add(BlockKind.PARAGRAPH, paragraph)


def split_paragraphs(text: str) -> list[str]:
    """PDF text has a line break at the end of every printed line. A paragraph ends at a blank line,
    or at a line that ends a sentence and stops well short of the typical line width."""
    lines = [line.strip() for line in text.split("\n")]
    widths = sorted(len(line) for line in lines if line)
    if not widths:
        return []
    typical = widths[int(len(widths) * 0.9)] if len(widths) >= 5 else max(widths)
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if not line:
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        current.append(line)
        if line[-1] in ".!?:" and len(line) < 0.8 * typical:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs


def _image_keys(page: PageObject) -> list[Any]:
    try:
        return list(page.images.keys())
    except Exception:  # noqa: BLE001 - unreadable resources: no images to OCR
        return []


def _image_size(page: PageObject, key: Any) -> tuple[int, int] | None:
    """Dimensions from the image dictionary, before anything is decoded."""
    if isinstance(key, str) and key.startswith("~"):
        return None  # inline image: small by construction (it lives in the content stream)
    obj: Any = page
    for name in [key] if isinstance(key, str) else list(key):
        try:
            resources = resolve(resolve(obj).get("/Resources")) or {}
            obj = resolve(resolve(resources.get("/XObject")) or {}).get(name)
        except (AttributeError, TypeError):  # a malformed resource tree: size unknown
            return None
        if obj is None:
            return None
    image = resolve(obj)
    try:
        return int(image["/Width"]), int(image["/Height"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _submit_scan(
    pool: ThreadPoolExecutor,
    path: Path,
    item: _Page,
    *,
    builder: DocumentBuilder,
    limits: ExtractionLimits,
    budget: _OcrBudget,
) -> Future[OcrLayout | None] | None:
    if budget.pages <= 0:
        builder.warn(f"Only the first {limits.ocr_max_pages} scanned pages were read with OCR.")
        return None
    budget.pages -= 1
    box = item.page.mediabox
    size = (float(box.width), float(box.height))
    return pool.submit(
        _read_scan,
        path,
        page_number=item.index + 1,
        size=size,
        dpi=scan_dpi(item.page, item.images, size=size, limits=limits),
        limits=limits,
    )


def scan_dpi(
    page: PageObject, images: list[Any], *, size: tuple[float, float], limits: ExtractionLimits
) -> int:
    """The resolution to render a scanned page at: its scan's own (the largest picture's pixels over
    the page's width, as a scan covers its page), never above KNOWLEDGE_OCR_DPI and never below
    _MIN_SCAN_DPI. Rendering a 150-dpi scan at 200 dpi only adds pixels to read: 1.8x of them, and
    Tesseract's time grows with the pixels."""
    sizes = [s for key in images if (s := _image_size(page, key)) is not None]
    if not sizes or min(size) <= 0:
        return limits.ocr_dpi
    width_px, height_px = max(sizes, key=lambda wh: wh[0] * wh[1])
    native = max(width_px, height_px) / (max(size) / 72.0)
    return max(min(_MIN_SCAN_DPI, limits.ocr_dpi), min(limits.ocr_dpi, round(native)))


def _read_scan(
    path: Path, *, page_number: int, size: tuple[float, float], dpi: int, limits: ExtractionLimits
) -> OcrLayout:
    with rendered_page(
        path, page_number=page_number, width_pt=size[0], height_pt=size[1], dpi=dpi, limits=limits
    ) as page:
        return ocr_page_layout(page, limits=limits)


def _scan_result(builder: DocumentBuilder, item: _Page) -> OcrLayout | None:
    if item.scan is None:
        return None
    try:
        return item.scan.result()
    except ExtractionLimitExceeded as e:  # one slow page is skipped; the document has its own limit
        builder.warn(f"{e.message} Page {item.index + 1} was skipped.")
        return None


def _emit_ocr_layout(builder: DocumentBuilder, layout: OcrLayout) -> None:
    """Headings found by type size (``ocr_layout``), each paragraph under the heading above it."""
    for level, text in layout.segments:
        if level:
            builder.heading(text, level=level)
        else:
            _emit_paragraphs(builder, text)


def _ocr_images(
    builder: DocumentBuilder,
    page: PageObject,
    keys: list[Any],
    *,
    limits: ExtractionLimits,
    budget: _OcrBudget,
) -> None:
    for key in keys:
        size = _image_size(page, key)
        if size is not None:
            # One oversized image (a 93-megapixel plate in a 352-page book) costs that image, not the book.
            if not pixels_allowed(*size, limits=limits):
                builder.warn(skipped_image(f"An image on page {builder.page_number}", *size))
                continue
            if not worth_ocr(*size, limits=limits):
                continue
        if budget.images <= 0:
            builder.warn(f"Only the first {limits.ocr_max_images} images were read with OCR.")
            return
        try:
            image = page.images[key].image
        except Exception:  # noqa: BLE001 - an undecodable image is skipped, the text stays
            builder.warn(f"An image on page {builder.page_number} could not be decoded for OCR.")
            continue
        if image is None or not worth_ocr(image.width, image.height, limits=limits):
            continue
        if not pixels_allowed(image.width, image.height, limits=limits):
            builder.warn(skipped_image(f"An image on page {builder.page_number}", image.width, image.height))
            continue
        budget.images -= 1
        builder.document.images_ocrd += 1
        try:
            text = ocr_image(image, limits=limits, orient=image.width * image.height >= ORIENT_MIN_PIXELS)
        except ExtractionLimitExceeded as e:
            builder.warn(f"{e.message} An image on page {builder.page_number} was skipped.")
            continue
        if sum(ch.isalnum() for ch in text) >= 3:
            builder.add(BlockKind.IMAGE_TEXT, text)
