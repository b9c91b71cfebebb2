"""Scans read the right way up and with their headings: Tesseract's orientation detection turns a page
scanned upside down or at 90°/270° before recognition, and its layout gives headings by type size (pages
made in code: PIL draws the text, then rotates the page)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from knowledgebase.extraction import ExtractionLimits, extract_file
from knowledgebase.extraction.ocr import ocr_image, upright

LIMITS = ExtractionLimits()
LINES = [f"Rule {n}: visitors park on level two next to the lifts" for n in range(1, 25)]


def scanned_page() -> Image.Image:
    """A letter-size page at 150 dpi with two dozen lines of text."""
    page = Image.new("L", (1275, 1650), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=30)
    for number, line in enumerate(LINES):
        draw.text((90, 90 + number * 52), line, fill=0, font=font)
    return page


def _found(text: str) -> int:
    return sum(f"Rule {n}" in text for n in range(1, 25))


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_upright_turns_a_rotated_scan_back(degrees):
    turned, rotation = upright(scanned_page().rotate(degrees, expand=True), limits=LIMITS)
    assert rotation == degrees and turned.size == (1275, 1650)


def test_an_upside_down_scanned_pdf_reads_as_text(tmp_path: Path):
    rotated = scanned_page().rotate(180)
    assert _found(ocr_image(rotated, limits=LIMITS)) < 5, "read as it is, the page is gibberish"
    path = tmp_path / "upside-down.pdf"
    rotated.save(path, "PDF", resolution=150)
    document = extract_file(path, filename=path.name, limits=LIMITS, isolated=False)
    text = "\n".join(block.text for block in document.blocks)
    assert _found(text) >= 20 and "visitors park on level two" in text


def test_a_sideways_scan_reads_as_text(tmp_path: Path):
    path = tmp_path / "sideways.pdf"
    scanned_page().rotate(90, expand=True).save(path, "PDF", resolution=150)
    document = extract_file(path, filename=path.name, limits=LIMITS, isolated=True)
    assert _found("\n".join(block.text for block in document.blocks)) >= 20


def test_a_line_or_two_is_left_as_it_is():
    """Too few characters for OSD: no rotation is guessed."""
    banner = Image.new("L", (1100, 160), 255)
    ImageDraw.Draw(banner).text((24, 50), "Short caption", fill=0, font=ImageFont.load_default(size=40))
    assert upright(banner, limits=LIMITS)[1] == 0


def test_headings_of_a_scanned_page_come_from_the_type_size(tmp_path: Path):
    page = Image.new("L", (1275, 1650), 255)
    draw = ImageDraw.Draw(page)
    big, medium, body = (ImageFont.load_default(size=size) for size in (64, 44, 26))
    draw.text((90, 80), "Parking Rules", fill=0, font=big)
    y = 200
    for line in ("Visitors park on level two of the garage.", "Badges are handed out at reception."):
        draw.text((90, y), line, fill=0, font=body)
        y += 44
    draw.text((90, y + 40), "Bicycles", fill=0, font=medium)
    y += 140
    for line in ("Racks are by the north door of the building.", "The shed key hangs at the reception desk."):
        draw.text((90, y), line, fill=0, font=body)
        y += 44
    path = tmp_path / "rules.pdf"
    page.save(path, "PDF", resolution=150)
    document = extract_file(path, filename=path.name, limits=LIMITS, isolated=False)
    headings = [(b.text, b.level) for b in document.blocks if b.kind == "heading"]
    assert headings == [("Parking Rules", 1), ("Bicycles", 2)], document.blocks
    racks = next(b for b in document.blocks if "north door" in b.text)
    assert racks.heading_path == ("Parking Rules", "Bicycles") and racks.page_number == 1
    visitors = next(b for b in document.blocks if "level two" in b.text)
    assert visitors.heading_path == ("Parking Rules",)


def test_scanned_pages_read_in_parallel_come_out_in_page_order(tmp_path: Path):
    font = ImageFont.load_default(size=30)
    pages = []
    for number in range(1, 4):
        page = Image.new("L", (1275, 1650), 255)
        draw = ImageDraw.Draw(page)
        for line in range(12):
            draw.text(
                (90, 90 + line * 52), f"Page {number} says line {line + 1} of the scan", fill=0, font=font
            )
        pages.append(page)
    path = tmp_path / "three.pdf"
    pages[0].save(path, "PDF", resolution=150, save_all=True, append_images=pages[1:])
    document = extract_file(path, filename=path.name, limits=ExtractionLimits(ocr_workers=2), isolated=False)
    numbers = [block.page_number or 0 for block in document.blocks]
    assert numbers == sorted(numbers) and set(numbers) == {1, 2, 3}
    for block in document.blocks:
        assert f"Page {block.page_number} says" in block.text
    assert document.images_ocrd == 3


def test_a_page_is_turned_only_when_it_reads_badly_as_it_is():
    """OSD costs a third of reading a page: it runs only for pages whose first reading is poor."""
    import pytesseract

    from knowledgebase.extraction.ocr import reads_upright

    def data(image: Image.Image) -> dict:
        return pytesseract.image_to_data(image, lang="eng", output_type=pytesseract.Output.DICT)

    assert reads_upright(data(scanned_page()))
    assert not reads_upright(data(scanned_page().rotate(180)))
    # Tesseract reads a sideways page too, as vertical lines: still turned, or no heading is found.
    assert not reads_upright(data(scanned_page().rotate(90, expand=True)))
    assert not reads_upright(data(scanned_page().rotate(270, expand=True)))


@pytest.mark.parametrize(("scan_dpi", "rendered_at"), [(150, 150), (300, 200), (72, 150), (100, 150)])
def test_a_scanned_page_is_rendered_at_its_own_resolution_within_bounds(
    tmp_path: Path, scan_dpi, rendered_at
):
    from pypdf import PdfReader

    from knowledgebase.extraction.pdf import scan_dpi as dpi_of

    path = tmp_path / "scan.pdf"
    width, height = round(8.5 * scan_dpi), 11 * scan_dpi  # a letter page scanned at scan_dpi
    Image.new("L", (width, height), 255).save(path, "PDF", resolution=scan_dpi)
    page = PdfReader(path).pages[0]
    size = (float(page.mediabox.width), float(page.mediabox.height))
    assert dpi_of(page, list(page.images.keys()), size=size, limits=LIMITS) == rendered_at
