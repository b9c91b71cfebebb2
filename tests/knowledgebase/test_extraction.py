"""Extraction of uploaded files: structure, anchors, OCR, refusals and the sandbox's limits."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import docx
import pytest
from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject, TextStringObject

from knowledgebase.extraction import (
    BlockKind,
    ExtractionError,
    ExtractionLimits,
    extract_file,
    extract_markdown,
    heading_anchor,
)
from knowledgebase.extraction.docx import table_text
from knowledgebase.extraction.pdf import split_paragraphs
from knowledgebase.validation import validate_bytes
from tests.fixtures.pdf import PdfBuilder, attachment_pdf, encrypted_pdf, minimal_pdf

LIMITS = ExtractionLimits()


# --- Builders shared with test_validation -----------------------------------------------------------


def text_image(text: str, *, size: tuple[int, int] = (1100, 160)) -> Image.Image:
    image = Image.new("L", size, 255)
    ImageDraw.Draw(image).text((24, 50), text, fill=0, font=ImageFont.load_default(size=40))
    return image


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def scanned_pdf(path: Path, text: str) -> Path:
    """A PDF whose only page is a picture of text: no text layer at all."""
    text_image(text).save(path, "PDF", resolution=150)
    return path


def scanned_book(path: Path, *, pages: int) -> Path:
    """Letter-size scans full of text lines and no text layer: OCR takes seconds a page."""
    font = ImageFont.load_default(size=28)
    scans = []
    for number in range(pages):
        scan = Image.new("L", (1275, 1650), 255)
        draw = ImageDraw.Draw(scan)
        for line in range(36):
            draw.text(
                (90, 80 + line * 42),
                f"Page {number + 1} line {line + 1}: the quick brown fox",
                fill=0,
                font=font,
            )
        scans.append(scan)
    scans[0].save(path, "PDF", resolution=150, save_all=True, append_images=scans[1:])
    return path


def picture_pdf(path: Path, picture_text: str) -> Path:
    """A text page with a 1100x160 picture of more text on it."""
    builder = PdfBuilder()
    builder.page(["This page has a text layer, and a picture of a sentence below it."])
    builder.image(0, text_image(picture_text), x=72, y=450, width=468)
    return builder.write(path)


def outlined_pdf(path: Path) -> Path:
    """Four pages: contents, then an outline three levels deep whose last entries do not match the
    printed titles (the bookmark says "Fifth", the page says "Chapter five")."""
    body = "Hello, here is some text without a meaning. It fills the page so that there is something to read."
    builder = PdfBuilder()
    contents = builder.page(
        ["Contents", "", "1 First .......... 2", "2 Third .......... 3", "3 Sixth .......... 4"]
    )
    second = builder.page(["First", body, "", "Second", body])
    third = builder.page(["Third", body, "", "Chapter five", body])
    fourth = builder.page(["Sixth", body])
    assert contents == 0
    first = builder.outline("First", second)
    builder.outline("Second", second, parent=first)
    nested = builder.outline("Third", third, parent=first)
    builder.outline("Fifth", third, parent=nested)
    builder.outline("Sixth", fourth)
    return builder.write(path)


def repeated_titles_pdf(path: Path) -> Path:
    """One page with four top-level outline entries, two of them both called "Foo"."""
    builder = PdfBuilder()
    lines: list[str] = []
    for title in ["Foo", "Bar", "Baz", "Foo"]:
        lines += [title, f"Hello, here is some text under {title}.", ""]
    page = builder.page(lines)
    for title in ["Foo", "Bar", "Baz", "Foo"]:
        builder.outline(title, page)
    return builder.write(path)


def blank_pdf_writer() -> PdfWriter:
    writer = PdfWriter()
    writer.add_blank_page(width=300, height=300)
    return writer


def write_pdf(writer: PdfWriter, path: Path) -> Path:
    with path.open("wb") as handle:
        writer.write(handle)
    return path


def sample_docx(path: Path, *, image: bytes | None = None) -> Path:
    document = docx.Document()
    document.add_heading("Travel policy", 0)
    document.add_heading("Booking", 1)
    document.add_paragraph("Book trains at least two weeks ahead.")
    document.add_paragraph("Use the travel portal", style="List Bullet")
    document.add_paragraph("Ask your manager", style="List Bullet")
    document.add_heading("Refunds", 2)
    table = document.add_table(rows=3, cols=3)
    table.cell(0, 0).text = "Item"
    table.cell(0, 1).text = "Limit"
    table.cell(0, 2).text = "Notes"
    table.cell(1, 0).text = "Hotel"
    table.cell(1, 1).text = "120 EUR"
    table.cell(1, 2).text = "per night"
    merged = table.cell(2, 0).merge(table.cell(2, 2))
    merged.text = "Meals are refunded at cost"
    nested = table.cell(1, 2).add_table(rows=1, cols=2)
    nested.cell(0, 0).text = "weekday"
    nested.cell(0, 1).text = "weekend"
    document.sections[0].header.paragraphs[0].text = "ACME staff handbook"
    document.sections[0].footer.paragraphs[0].text = "Confidential"
    if image is not None:
        document.add_picture(io.BytesIO(image))
    document.save(str(path))
    return path


def rewrite_zip(source: Path, target: Path, *, add: dict[str, bytes] | None = None, replace=None) -> Path:
    replace = replace or {}
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            data = old.read(info.filename)
            new.writestr(info.filename, replace[info.filename](data) if info.filename in replace else data)
        for name, data in (add or {}).items():
            new.writestr(name, data)
    return target


def extract(path: Path, *, filename: str | None = None, limits: ExtractionLimits = LIMITS):
    return extract_file(path, filename=filename or path.name, limits=limits, isolated=False)


def reject_code(path: Path, *, filename: str | None = None, limits: ExtractionLimits = LIMITS) -> str:
    with pytest.raises(ExtractionError) as info:
        extract(path, filename=filename, limits=limits)
    assert str(info.value), "a rejection always says why"
    return info.value.code


# --- Anchors -----------------------------------------------------------------------------------------


def test_heading_anchors_are_stable_unique_and_unicode():
    seen: dict[str, int] = {}
    ids = [
        heading_anchor(text, seen) for text in ["Getting started", "Getting started!", "Getting started 1"]
    ]
    assert ids == ["getting-started", "getting-started-1", "getting-started-1-1"]
    assert heading_anchor("Über uns", {}) == "über-uns"
    assert heading_anchor("???", {}) == "section"


def test_heading_anchor_prefers_an_explicit_label():
    seen: dict[str, int] = {}
    assert heading_anchor("Install", seen, label="install_guide") == "install_guide"
    assert heading_anchor("Install", seen) == "install"


# --- Markdown and text -------------------------------------------------------------------------------

MARKDOWN = """---
title: Editor handbook
tags: [a, b]
---

(publishing-label)=
# Publishing

Pages go *live* when you press {guilabel}`Publish` (see {ref}`the workflow docs <workflows>`).

## Scheduling

```python
page.go_live_at = tomorrow
```

```{note}
:class: tip
Scheduled pages need the **publish_scheduled** command.
```

```{toctree}
secret/path
```

| Setting | Default |
|---|---|
| `WAGTAIL_SITE_NAME` | none |

- first
  - nested
- second

## Scheduling
"""


def test_markdown_structure_anchors_and_front_matter():
    document = extract_markdown(MARKDOWN, title_hint="fallback")
    assert document.title == "Editor handbook"
    text = "\n".join(block.text for block in document.blocks)
    assert "tags" not in text and "---" not in text, "front matter is metadata, not text"

    headings = [b for b in document.blocks if b.kind == BlockKind.HEADING]
    assert [(h.text, h.level, h.anchor) for h in headings] == [
        ("Publishing", 1, "publishing-label"),
        ("Scheduling", 2, "scheduling"),
        ("Scheduling", 2, "scheduling-1"),
    ]
    paragraph = next(b for b in document.blocks if b.kind == BlockKind.PARAGRAPH)
    assert paragraph.text == "Pages go live when you press Publish (see the workflow docs)."
    assert paragraph.heading_path == ("Publishing",) and paragraph.anchor == "publishing-label"

    code = next(b for b in document.blocks if b.kind == BlockKind.CODE)
    assert code.language == "python" and code.text == "page.go_live_at = tomorrow"
    assert code.heading_path == ("Publishing", "Scheduling")

    note = next(b for b in document.blocks if "publish_scheduled" in b.text)
    assert note.kind == BlockKind.PARAGRAPH
    assert note.text == "Scheduled pages need the publish_scheduled command."
    assert "secret/path" not in text and ":class:" not in text and "{note}" not in text

    table = next(b for b in document.blocks if b.kind == BlockKind.TABLE)
    assert table.text == "Setting | Default\nWAGTAIL_SITE_NAME | none"
    listing = next(b for b in document.blocks if b.kind == BlockKind.LIST)
    assert listing.text == "- first\n  - nested\n- second"
    assert document.characters == sum(len(b.text) for b in document.blocks)


def test_markdown_file_uses_title_hint_and_hostile_front_matter_is_ignored(tmp_path):
    path = tmp_path / "release_notes.md"
    path.write_text("---\n!!python/object/apply:os.system ['true']\n---\nJust text.\n", encoding="utf-8")
    document = extract(path)
    assert document.title == "release notes"
    assert [b.text for b in document.blocks] == ["Just text."]
    assert any("front matter" in warning for warning in document.warnings)


def test_text_files_decode_utf8_with_bom_and_fall_back_with_a_warning(tmp_path):
    utf8 = tmp_path / "a.txt"
    utf8.write_bytes("\ufeffCafé menu\n\nSecond paragraph".encode())
    document = extract(utf8)
    assert [b.text for b in document.blocks] == ["Café menu", "Second paragraph"]
    assert document.warnings == []

    legacy = tmp_path / "b.txt"
    legacy.write_bytes("Caf\xe9 \u2013 menu".encode("cp1252"))
    document = extract(legacy)
    assert document.blocks[0].text == "Café – menu"
    assert "Windows-1252" in document.warnings[0]


def test_binary_content_with_a_text_extension_is_refused(tmp_path):
    fake = tmp_path / "notes.txt"
    fake.write_bytes(b"abc\x00\x01\x02" * 100)
    assert reject_code(fake) == "unsupported_type"
    png = tmp_path / "notes.md"
    png.write_bytes(png_bytes(text_image("hello")))
    assert reject_code(png) == "unsupported_type"


def test_extension_and_content_must_agree(tmp_path):
    pdf = minimal_pdf(tmp_path / "minimal.pdf")
    assert reject_code(pdf, filename="minimal.docx") == "unsupported_type"
    assert reject_code(pdf, filename="minimal.exe") == "unsupported_type"
    assert reject_code(pdf, filename="minimal") == "unsupported_type"
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert reject_code(empty) == "empty"
    assert reject_code(pdf, limits=ExtractionLimits(max_bytes=pdf.stat().st_size - 1)) == "too_large"
    assert extract(pdf, limits=ExtractionLimits(max_bytes=pdf.stat().st_size)).characters


# --- PDF ---------------------------------------------------------------------------------------------


def test_pdf_outline_becomes_headings_with_pages_and_paths(tmp_path):
    document = extract(outlined_pdf(tmp_path / "outlined.pdf"))
    assert document.pages == 4
    assert {b.page_number for b in document.blocks} == {1, 2, 3, 4}
    contents = document.blocks[0]
    assert contents.page_number == 1 and contents.heading_path == (), "nothing in the outline before page 2"
    headings = [b for b in document.blocks if b.kind == BlockKind.HEADING]
    assert (headings[0].text, headings[0].level, headings[0].page_number) == ("First", 1, 2)
    second = next(h for h in headings if h.text == "Second")
    assert second.heading_path == ("First", "Second") and second.level == 2
    fifth = next(h for h in headings if h.text == "Fifth")
    assert fifth.page_number == 3 and fifth.level == 3 and fifth.heading_path == ("First", "Third", "Fifth")
    # A bookmark whose title is not printed on its page opens its section at the top of that page.
    third = next(h for h in headings if h.text == "Third")
    assert document.blocks[document.blocks.index(third) + 1] is fifth
    assert any("Chapter five" in b.text and b.heading_path[-1] == "Fifth" for b in document.blocks)
    sixth = next(h for h in headings if h.text == "Sixth")
    assert (sixth.level, sixth.page_number, sixth.heading_path) == (1, 4, ("Sixth",))
    for block in document.blocks:
        assert block.anchor == heading_anchor_path_id(document, block)
        if block.page_number and block.page_number > 1:
            assert block.heading_path, "from page 2 on, every block sits under an outline entry"


def heading_anchor_path_id(document, block) -> str:
    """The anchor of the last heading before ``block`` in document order."""
    anchor = ""
    for candidate in document.blocks:
        if candidate.kind == BlockKind.HEADING:
            anchor = candidate.anchor
        if candidate is block:
            return anchor
    raise AssertionError("block not in document")


def test_pdf_repeated_outline_titles_get_distinct_anchors_and_split_the_page(tmp_path):
    document = extract(repeated_titles_pdf(tmp_path / "repeated.pdf"))
    headings = [b for b in document.blocks if b.kind == BlockKind.HEADING]
    assert [h.anchor for h in headings] == ["foo", "bar", "baz", "foo-1"]
    bar = document.blocks.index(headings[1])
    assert document.blocks[bar + 1].heading_path == ("Bar",)
    assert document.blocks[bar + 1].text == "Hello, here is some text under Bar."
    assert [b.text for b in document.blocks if b.anchor == "foo-1"] == [
        "Foo",
        "Hello, here is some text under Foo.",
    ]


def test_pdf_bookmarks_titled_unlike_the_page_are_placed_where_they_point(tmp_path):
    """Bookmarks whose titles are not printed (corpus sample 014 has such): each opens its section at
    the line its /XYZ destination points to, whatever the outline's order, instead of all of them
    piling up where the first one failed to match and the whole page falling under the last."""
    lines = []
    for name in ("Alpha", "Beta", "Gamma"):
        lines += [f"Part {name}", f"Text that belongs to the {name.lower()} part of the page.", ""]
    builder = PdfBuilder()
    page = builder.page(lines)
    for title, line in (("One", 0), ("Three", 6), ("Two", 3)):  # the outline is not in page order
        builder.outline(title, page, line=line)
    document = extract(builder.write(tmp_path / "bookmarks.pdf"))
    headings = [b.text for b in document.blocks if b.kind == BlockKind.HEADING]
    assert headings == ["One", "Two", "Three"]
    under = {b.heading_path[-1]: b.text for b in document.blocks if b.kind != BlockKind.HEADING}
    assert "alpha part" in under["One"] and "beta part" in under["Two"] and "gamma part" in under["Three"]


def test_pdf_two_columns_read_in_column_order_and_dehyphenated(tmp_path):
    """The content stream holds the left column, then the right one (as LaTeX writes them); reading
    by position line by line would interleave them."""
    builder = PdfBuilder()
    builder.page(
        columns=[
            [
                "Lorem ipsum dolor sit amet, consectetuer",
                "adipiscing elit. Curabitur dictum gravida",
                "mauris. Nam arcu libero, nonummy eget, con-",
                "sectetuer id, vulputate a, magna.",
            ],
            [
                "Phasellus adipiscing semper elit. Proin",
                "fermentum massa ac quam. Sed diam turpis,",
                "molestie vitae, placerat a, molestie nec.",
            ],
        ]
    )
    document = extract(builder.write(tmp_path / "columns.pdf"))
    text = " ".join(b.text for b in document.blocks if b.page_number == 1)
    assert "Lorem ipsum dolor sit amet, consectetuer adipiscing elit." in text
    assert "nonummy eget, consectetuer id" in text, "the hyphenated word is joined"
    first_column = text.index("Curabitur dictum gravida mauris")
    second_column = text.index("Phasellus adipiscing semper elit")
    assert first_column < second_column


def test_pdf_form_values_are_included(tmp_path):
    builder = PdfBuilder()
    page = builder.page(["Example for a form", "", "First Name", "First Name (second person)", "Last Name"])
    builder.text_field(page, "First Name", "Alice", rect=[250, 680, 450, 700])
    builder.text_field(page, "First Name_2", "Bob", rect=[250, 665, 450, 685])
    builder.text_field(page, "Last Name", rect=[250, 650, 450, 670])
    document = extract(builder.write(tmp_path / "form.pdf"))
    form = next(b for b in document.blocks if b.text.startswith("Form fields:"))
    assert "First Name: Alice" in form.text and "First Name_2: Bob" in form.text
    assert "Last Name" not in form.text, "empty fields are left out"


def test_a_pdf_form_with_an_attachment_is_read_with_every_field_value(tmp_path):
    """A government form carrying its instructions as an attached file: the text and filled-in values
    are the knowledge; the attachment is listed in a warning, not parsed."""
    builder = PdfBuilder()
    page = builder.page(["Application for a parking permit", "", "Applicant", "Plate number"])
    builder.text_field(page, "Applicant", "Ana Souza", rect=[250, 680, 450, 700])
    builder.text_field(page, "Plate", "AB-123-CD", rect=[250, 665, 450, 685])
    builder.form_only_field("Reference", "PERMIT-2026-0042")
    builder.attach("instructions.txt", b"Secret instructions that are not indexed")
    path = builder.write(tmp_path / "permit.pdf")
    assert validate_bytes(path.read_bytes(), filename=path.name, limits=LIMITS).warnings
    document = extract(path)
    text = "\n".join(b.text for b in document.blocks)
    assert "Application for a parking permit" in text
    assert "Applicant: Ana Souza" in text and "Plate: AB-123-CD" in text
    assert "Reference: PERMIT-2026-0042" in text and text.count("Ana Souza") == 1
    assert "Secret instructions" not in text
    assert any("“instructions.txt”" in w for w in document.warnings)


def test_pdf_arabic_text_is_kept(tmp_path):
    """Right-to-left letters and their vowel marks come out in reading order (a real file: test_corpus)."""
    builder = PdfBuilder()
    builder.page(["حَبيبي", "Habibi is Arabic for my darling: حَبيبي"])
    document = extract(builder.write(tmp_path / "habibi.pdf"))
    assert document.blocks[0].text == "حَبيبي Habibi is Arabic for my darling: حَبيبي"


def test_scanned_pdf_page_is_read_with_ocr(tmp_path):
    path = scanned_pdf(tmp_path / "scan.pdf", "Invoices are paid within 30 days")
    document = extract(path)
    assert "Invoices are paid within 30 days" in document.blocks[0].text
    assert document.blocks[0].page_number == 1
    assert document.images_ocrd == 1 and document.pages == 1
    assert any("OCR" in warning for warning in document.warnings)


def test_a_page_whose_ocr_times_out_is_skipped_with_a_warning(tmp_path):
    writer = PdfWriter()
    writer.append(str(minimal_pdf(tmp_path / "minimal.pdf")))
    writer.append(str(scanned_pdf(tmp_path / "scan.pdf", "Invoices are paid within 30 days")))
    path = write_pdf(writer, tmp_path / "mixed.pdf")
    document = extract(path, limits=ExtractionLimits(ocr_page_timeout=0.01))
    assert document.pages == 2 and {b.page_number for b in document.blocks} == {1}
    assert any("Page 2 was skipped" in warning for warning in document.warnings)
    assert any("Invoices" in b.text and b.page_number == 2 for b in extract(path).blocks)


def test_scanned_pdf_without_ocr_has_no_text(tmp_path):
    path = scanned_pdf(tmp_path / "scan.pdf", "Invoices are paid within 30 days")
    assert reject_code(path, limits=ExtractionLimits(ocr_enabled=False)) == "no_text"


def test_images_inside_text_pdfs_are_ocrd(tmp_path):
    document = extract(picture_pdf(tmp_path / "picture.pdf", "Please assign it to yourself"))
    image_text = [b for b in document.blocks if b.kind == BlockKind.IMAGE_TEXT]
    assert "assign it to yourself" in image_text[0].text
    assert document.images_ocrd == 1
    assert any("text layer" in b.text for b in document.blocks if b.kind == BlockKind.PARAGRAPH)


def test_pdf_image_past_the_pixel_limit_is_skipped_before_decoding_and_the_text_kept(tmp_path):
    path = picture_pdf(tmp_path / "picture.pdf", "A picture of 176,000 pixels")  # 1100x160
    document = extract(path, limits=ExtractionLimits(image_max_pixels=100_000))
    assert document.images_ocrd == 0
    assert any("text layer" in b.text for b in document.blocks)
    assert any("1100x160 pixels" in w and "skipped" in w for w in document.warnings), document.warnings
    assert extract(path).images_ocrd == 1


def test_encrypted_pdfs_are_refused_and_attachments_listed_not_read(tmp_path):
    with pytest.raises(ExtractionError, match="password-protected PDF") as info:
        extract(encrypted_pdf(tmp_path / "locked.pdf"))
    assert info.value.code == "encrypted_pdf"
    document = extract(attachment_pdf(tmp_path / "attached.pdf"))
    assert any("attached spreadsheet" in b.text for b in document.blocks)
    assert not any("Q1,100" in b.text for b in document.blocks), "an attachment is never parsed"
    assert any("“figures.csv”" in w and "not read" in w for w in document.warnings), document.warnings


def test_pdf_javascript_and_launch_actions_are_refused(tmp_path):
    scripted = blank_pdf_writer()
    script = DictionaryObject(
        {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1)")}
    )
    scripted._root_object[NameObject("/Names")] = DictionaryObject(
        {
            NameObject("/JavaScript"): DictionaryObject(
                {NameObject("/Names"): ArrayObject([TextStringObject("hello"), scripted._add_object(script)])}
            )
        }
    )
    assert reject_code(write_pdf(scripted, tmp_path / "js.pdf")) == "pdf_active_content"

    open_action = blank_pdf_writer()
    open_action._root_object[NameObject("/OpenAction")] = DictionaryObject(
        {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1)")}
    )
    assert reject_code(write_pdf(open_action, tmp_path / "open.pdf")) == "pdf_active_content"

    launch = blank_pdf_writer()
    annotation = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Link"),
            NameObject("/Rect"): ArrayObject(
                [NumberObject(0), NumberObject(0), NumberObject(50), NumberObject(50)]
            ),
            NameObject("/A"): DictionaryObject(
                {NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("calc.exe")}
            ),
        }
    )
    launch.pages[0][NameObject("/Annots")] = ArrayObject([launch._add_object(annotation)])
    with pytest.raises(ExtractionError, match="launches programs") as info:
        extract(write_pdf(launch, tmp_path / "launch.pdf"))
    assert info.value.code == "pdf_active_content"


def test_split_paragraphs_breaks_at_short_sentence_ends():
    text = "A long line of text that goes on\nand ends here.\nNext paragraph starts and runs on\nto the end"
    assert split_paragraphs(text) == [
        "A long line of text that goes on and ends here.",
        "Next paragraph starts and runs on to the end",
    ]


# --- DOCX --------------------------------------------------------------------------------------------


def test_docx_headings_lists_tables_headers_and_image_ocr(tmp_path):
    picture = png_bytes(text_image("Receipts must be scanned"))
    document = extract(sample_docx(tmp_path / "policy.docx", image=picture))
    assert document.title == "Travel policy"
    headings = [(b.text, b.level, b.anchor) for b in document.blocks if b.kind == BlockKind.HEADING]
    assert headings == [
        ("Travel policy", 1, "travel-policy"),
        ("Booking", 1, "booking"),
        ("Refunds", 2, "refunds"),
    ]

    paragraph = next(b for b in document.blocks if b.text.startswith("Book trains"))
    assert paragraph.heading_path == ("Booking",) and paragraph.anchor == "booking"
    listing = next(b for b in document.blocks if b.kind == BlockKind.LIST)
    assert listing.text == "- Use the travel portal\n- Ask your manager"

    table = next(b for b in document.blocks if b.kind == BlockKind.TABLE)
    assert table.heading_path == ("Booking", "Refunds")
    rows = table.text.split("\n")
    assert rows[0] == "Item | Limit | Notes"
    assert rows[1] == "Hotel | 120 EUR | per night [weekday | weekend]"
    assert rows[2] == "Meals are refunded at cost", "a merged cell is reported once"

    image = next(b for b in document.blocks if b.kind == BlockKind.IMAGE_TEXT)
    assert "Receipts must be scanned" in image.text
    assert document.images_ocrd == 1

    furniture = document.blocks[-1]
    assert furniture.text == "ACME staff handbook\nConfidential" and furniture.heading_path == ()
    assert sum("ACME staff handbook" in b.text for b in document.blocks) == 1


def test_every_cell_of_a_long_table_is_kept():
    """Merged cells are recognised by their XML element; an identity check on short-lived lxml proxies
    let a later cell reuse an earlier one's id and dropped whole rows (4,460 of 4,500 cells here)."""
    table = docx.Document().add_table(rows=300, cols=3)
    for r, row in enumerate(table.rows):
        for c, cell in enumerate(row.cells):
            cell.text = f"r{r}c{c}"
    lines = table_text(table).split("\n")
    assert lines == [f"r{r}c0 | r{r}c1 | r{r}c2" for r in range(300)]


def test_docx_macros_ole_and_entities_are_refused(tmp_path):
    clean = sample_docx(tmp_path / "clean.docx")
    macro = rewrite_zip(clean, tmp_path / "macro.docx", add={"word/vbaProject.bin": b"\xd0\xcf\x11\xe0"})
    assert reject_code(macro) == "macro_enabled"
    ole = rewrite_zip(
        clean, tmp_path / "ole.docx", add={"word/embeddings/oleObject1.bin": b"\xd0\xcf\x11\xe0"}
    )
    assert reject_code(ole) == "ole_embedded"

    def add_entities(xml: bytes) -> bytes:
        declaration, rest = xml.split(b"?>", 1)
        return declaration + b'?><!DOCTYPE w:document [<!ENTITY lol "lol">]>' + rest

    entities = rewrite_zip(clean, tmp_path / "lol.docx", replace={"word/document.xml": add_entities})
    with pytest.raises(ExtractionError, match="DTD") as info:
        extract(entities)
    assert info.value.code == "xml_entities"


def test_docx_zip_bomb_is_refused_and_an_oversized_image_skipped(tmp_path):
    clean = sample_docx(tmp_path / "clean.docx")
    bomb = rewrite_zip(clean, tmp_path / "bomb.docx", add={"word/media/filler.xml": b"\0" * 5_000_000})
    assert reject_code(bomb) == "zip_bomb"
    assert reject_code(clean, limits=ExtractionLimits(zip_max_entries=5)) == "zip_bomb"

    big = text_image("Too big to read", size=(3000, 3000))
    with_big_image = sample_docx(tmp_path / "big.docx", image=png_bytes(big))
    document = extract(with_big_image, limits=ExtractionLimits(image_max_pixels=1_000_000))
    assert document.images_ocrd == 0 and any("3000x3000" in w for w in document.warnings)
    assert any("Book trains" in b.text for b in document.blocks)


def test_damaged_docx_is_refused_as_corrupt(tmp_path):
    clean = sample_docx(tmp_path / "clean.docx")
    broken = rewrite_zip(
        clean, tmp_path / "broken.docx", replace={"word/document.xml": lambda xml: xml[:200]}
    )
    assert reject_code(broken) == "corrupt"


# --- The sandbox -------------------------------------------------------------------------------------


def test_isolated_extraction_matches_in_process(tmp_path):
    path = outlined_pdf(tmp_path / "outlined.pdf")
    isolated = extract_file(path, filename=path.name, limits=LIMITS, isolated=True)
    assert isolated == extract(path)


def test_isolated_errors_keep_their_class_and_code(tmp_path):
    path = encrypted_pdf(tmp_path / "locked.pdf")
    with pytest.raises(ExtractionError, match="password-protected PDF") as info:
        extract_file(path, filename=path.name, limits=LIMITS, isolated=True)
    assert info.value.code == "encrypted_pdf" and type(info.value).__name__ == "EncryptedFile"


def test_wall_clock_limit_kills_a_slow_extraction(tmp_path):
    # OCR takes 0.5 s (this machine, Tesseract 5.3) to 4 s a page (earlier ones): 16 pages outlast the 1.5 s
    # limit on any of them. With 2, the faster machine finished in 1.0 s and the test failed.
    path = scanned_book(tmp_path / "scans.pdf", pages=16)
    started = time.monotonic()
    with pytest.raises(ExtractionError) as info:
        extract_file(path, filename=path.name, limits=ExtractionLimits(timeout=1.5), isolated=True)
    assert info.value.code == "timeout"
    assert time.monotonic() - started < 5


def test_memory_limit_stops_a_hungry_extraction(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text(("lorem ipsum dolor sit amet " * 40 + "\n\n") * 4000, encoding="utf-8")
    with pytest.raises(ExtractionError) as info:
        extract_file(path, filename=path.name, limits=ExtractionLimits(memory_mb=64), isolated=True)
    assert info.value.code == "memory"
    assert extract_file(path, filename=path.name, limits=LIMITS, isolated=True).characters > 4_000_000


def test_docx_footnotes_endnotes_and_comments_become_their_own_sections(tmp_path):
    from tests.fixtures.documents import docx_with_notes

    path = docx_with_notes(
        tmp_path / "survey.docx",
        footnotes=["Sample of 1,204 households.", "Weighted by region."],
        endnotes=["Data collected in March 2026."],
        comments=["Check the weighting."],
    )
    document = extract(path)
    sections = {
        b.heading_path[0]: [x.text for x in document.blocks if x.heading_path[:1] == b.heading_path[:1]][1:]
        for b in document.blocks
        if b.kind == BlockKind.HEADING and b.level == 1
    }
    assert sections["Footnotes"] == ["[1] Sample of 1,204 households.", "[2] Weighted by region."]
    assert sections["Endnotes"] == ["[1] Data collected in March 2026."]
    assert sections["Comments"] == ["Rita Reviewer: Check the weighting."]
    assert next(b for b in document.blocks if b.text == "See notes.").heading_path == ("Survey results",)


def test_docx_headings_by_style_inheritance_and_outline_level(tmp_path):
    from docx.enum.style import WD_STYLE_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def outline(element, level: int) -> None:
        p_pr = element.get_or_add_pPr()
        node = OxmlElement("w:outlineLvl")
        node.set(qn("w:val"), str(level))
        p_pr.append(node)

    document = docx.Document()
    chapter = document.styles.add_style("Chapter", WD_STYLE_TYPE.PARAGRAPH)
    chapter.base_style = document.styles["Heading 1"]
    section = document.styles.add_style("Section Title", WD_STYLE_TYPE.PARAGRAPH)
    outline(section.element, 1)  # "outline level 2" set on a style based on Normal
    document.add_paragraph("Getting around", style="Chapter")
    document.add_paragraph("By bicycle", style="Section Title")
    document.add_paragraph("Racks are by the north door.")
    direct = document.add_paragraph("Winter rules")
    outline(direct._p, 2)  # direct formatting: outline level 3 on a Normal paragraph
    document.add_paragraph("Salt the ramp before seven.")
    body = document.add_paragraph("Plain body text", style="Chapter")
    outline(body._p, 9)  # direct "body text" outline level under a heading style: the style decides
    path = tmp_path / "styles.docx"
    document.save(str(path))
    result = extract(path)
    headings = [(b.text, b.level) for b in result.blocks if b.kind == BlockKind.HEADING]
    assert headings == [("Getting around", 1), ("By bicycle", 2), ("Winter rules", 3), ("Plain body text", 1)]
    salt = next(b for b in result.blocks if b.text == "Salt the ramp before seven.")
    assert salt.heading_path == ("Getting around", "By bicycle", "Winter rules")
