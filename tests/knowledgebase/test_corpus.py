"""Every shared sample PDF and DOCX is either extracted with sensible text or rejected with a clear reason.

All files go through the isolated path (child process, wall-clock and memory limits), two at a time to
use both cores; the outcomes are computed once per module and each file is its own test. Measured on
the 2-core machine: ~65 s for the 75 files, most of it GeoTopo's 117 pages and its 10 OCR'd figures.
At the end, the few checks where the real third-party file is the point (test_extraction.py has a
generated equivalent of each).

The corpus lives outside the repository (``../shared/corpus`` or ``KNOWLEDGE_TEST_CORPUS``, see
tests/corpus.py): without it these tests are skipped, or fail with ``KNOWLEDGE_TEST_CORPUS_REQUIRED=1``.
"""

from __future__ import annotations

import json
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from knowledgebase.extraction import (
    BlockKind,
    ExtractedDocument,
    ExtractionError,
    ExtractionLimits,
    extract_file,
)
from tests.corpus import corpus_available, corpus_dir, require_corpus

PDF_DIR = corpus_dir() / "pdf-samples"
DOCX_DIR = corpus_dir() / "docx-samples"
# Listed at collection only when the corpus is there; otherwise one placeholder test reports the skip.
# files.json lists one file that is not shipped (GeoTopo.pdf; the compressed GeoTopo-komprimiert.pdf is).
PDF_FILES = (
    sorted(str(path.relative_to(PDF_DIR)) for path in PDF_DIR.rglob("*.pdf")) if corpus_available() else []
)
DOCX_FILES = sorted(path.name for path in DOCX_DIR.glob("*.docx")) if corpus_available() else []
NAMES: list[Any] = PDF_FILES + DOCX_FILES or [pytest.param("", id="shared-corpus")]


@cache
def pdf_metadata() -> dict[str, dict[str, Any]]:
    return {entry["path"]: entry for entry in json.loads((PDF_DIR / "files.json").read_text())["data"]}


@pytest.fixture(scope="module")
def corpus() -> Path:
    require_corpus("pdf-samples", "files.json")
    require_corpus("docx-samples")
    return corpus_dir()


# Generous per file: GeoTopo takes ~10-20 s alone; a hang would still end here, not in pytest's timeout.
LIMITS = ExtractionLimits(timeout=180.0)

REJECTED: dict[str, tuple[str, str]] = {
    # file → (code, words the reason must contain)
    "005-libreoffice-writer-password/libreoffice-writer-password.pdf": (
        "encrypted_pdf",
        "password-protected",
    ),
    "017-unreadable-meta-data/unreadablemetadata.pdf": ("corrupt", "damaged"),
    # Pictures without any text (16x16 test images, photos): nothing for the bot to read, even by OCR.
    "007-imagemagick-images/imagemagick-ASCII85Decode.pdf": ("no_text", "OCR"),
    "007-imagemagick-images/imagemagick-CCITTFaxDecode.pdf": ("no_text", "OCR"),
    "007-imagemagick-images/imagemagick-lzw.pdf": ("no_text", "OCR"),
    "019-grayscale-image/grayscale-image.pdf": ("no_text", "OCR"),
    "023-cmyk-image/cmyk-image.pdf": ("no_text", "OCR"),
}
# python-docx's fixtures for styles, properties and empty tables hold no text at all.
EMPTY_DOCX = {
    "blk-containing-table.docx",
    "doc-coreprops.docx",
    "doc-default.docx",
    "doc-no-coreprops.docx",
    "doc-word-default-blank.docx",
    "set-no-settings-part.docx",
    "sty-behav-props.docx",
    "sty-having-no-styles-part.docx",
    "sty-having-styles-part.docx",
    "tbl-2x2-table.docx",
    "tbl-col-props.docx",
    "tbl-having-tables.docx",
    "tbl-on-off-props.docx",
}
REJECTED.update({name: ("no_text", "no text") for name in EMPTY_DOCX})

SNIPPETS: dict[str, list[str]] = {
    "001-trivial/minimal-document.pdf": ["Lorem ipsum dolor sit amet"],
    "004-pdflatex-4-pages/pdflatex-4-pages.pdf": ["Hello, here is some text without a meaning"],
    "009-pdflatex-geotopo/GeoTopo-komprimiert.pdf": ["Topologische Räume", "Fundamentalgruppe"],
    "011-google-doc-document/google-doc-document.pdf": ["Beautiful is better than ugly."],
    "012-libreoffice-form/libreoffice-form.pdf": ["First Name: Alice"],
    "013-reportlab-overlay/reportlab-overlay.pdf": ["Fingerprint: asdfSa2123"],
    "015-arabic/habibi.pdf": ["حَبيبي", "habibi"],
    "016-libre-office-link/libre-office-link.pdf": ["This is a link to an awesome blog."],
    "018-base64-image/base64image.pdf": ["assign it to yourself"],  # only in the image: OCR
    "020-xmp/output_with_metadata_pymupdf.pdf": ["Hello, World!"],
    "021-pdfa/crazyones-pdfa.pdf": ["The Crazy Ones", "The misfits."],
    "024-annotations/annotated_pdf.pdf": ["Some text."],
    "026-latex-multicolumn/multicolumn.pdf": ["Two-Column Document with Lorem Ipsum"],
    "test.docx": ["python-docx was here!"],
    "having-images.docx": ["python"],  # the document is three pictures: OCR
    "hdr-header-footer.docx": ["Header for section-1", "Footer for section 1"],
    "tbl-having-applied-style.docx": ["foobar | barfoo"],
    "num-having-numbering-part.docx": ["Paragraph having List Number style."],
    "par-hyperlinks.docx": ["One awesome hyperlink."],
}
# Files with an outline (PDF) or heading styles (DOCX): (number of headings, one of them).
HEADINGS: dict[str, tuple[int, str]] = {
    "006-pdflatex-outline/pdflatex-outline.pdf": (9, "Baz"),
    "014-outlines/mistitled_outlines_example.pdf": (27, "Twenty-seventh"),
    "009-pdflatex-geotopo/GeoTopo-komprimiert.pdf": (35, "1.3 Stetigkeit"),
    "par-known-paragraphs.docx": (1, "Heading Paragraph"),
    "par-known-styles.docx": (1, "Heading 1"),
    "test.docx": (1, "python-docx was here!"),
}
# Read, with the attachment listed in a warning and not parsed (issue 16: degrade, don't refuse).
ATTACHMENTS = {"025-attachment/with-attachment.pdf"}
OCR_FILES = {"018-base64-image/base64image.pdf", "having-images.docx", "shp-inline-shape-access.docx"}


@dataclass(frozen=True, kw_only=True)
class Outcome:
    document: ExtractedDocument | None = None
    error: ExtractionError | None = None


def _run(path: Path) -> Outcome:
    try:
        return Outcome(document=extract_file(path, filename=path.name, limits=LIMITS, isolated=True))
    except ExtractionError as e:
        return Outcome(error=e)


@pytest.fixture(scope="module")
def outcomes(corpus: Path) -> dict[str, Outcome]:
    paths = {name: PDF_DIR / name for name in PDF_FILES} | {name: DOCX_DIR / name for name in DOCX_FILES}
    # Two children at a time: one per core (tesseract runs single-threaded, see ocr.py).
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(paths, pool.map(_run, paths.values()), strict=True))
    return results


def test_the_corpus_is_all_here(corpus: Path):
    assert len(PDF_FILES) == 31 and len(DOCX_FILES) == 44
    assert set(PDF_FILES) <= set(pdf_metadata())
    assert set(REJECTED) <= set(PDF_FILES) | set(DOCX_FILES)
    encrypted = {name for name in PDF_FILES if pdf_metadata()[name]["encrypted"]}
    assert encrypted == {name for name, (code, _) in REJECTED.items() if code == "encrypted_pdf"}


@pytest.mark.parametrize("name", NAMES)
def test_file_is_extracted_or_rejected_with_a_reason(name: str, outcomes: dict[str, Outcome]):
    outcome = outcomes[name]
    if name in REJECTED:
        code, words = REJECTED[name]
        assert outcome.error is not None, f"{name} should be rejected ({code})"
        assert outcome.error.code == code, outcome.error
        assert words.casefold() in outcome.error.message.casefold()
        return
    assert outcome.error is None, f"{name}: {outcome.error and outcome.error.code}: {outcome.error}"
    document = outcome.document
    assert document is not None
    _assert_sensible(name, document)


def _assert_sensible(name: str, document: ExtractedDocument) -> None:
    text = "\n".join(block.text for block in document.blocks)
    assert document.characters == sum(len(block.text) for block in document.blocks)
    assert document.characters >= 4 and all(block.text.strip() for block in document.blocks)
    assert "\x00" not in text and "\ufffd" not in text
    for snippet in SNIPPETS.get(name, []):
        assert unicodedata.normalize("NFKC", snippet) in text, f"{snippet!r} not in {name}"

    headings = [block for block in document.blocks if block.kind == BlockKind.HEADING]
    if name in HEADINGS:
        count, example = HEADINGS[name]
        assert len(headings) == count and example in {h.text for h in headings}
    anchor = ""
    for block in document.blocks:  # every block links to the heading above it
        if block.kind == BlockKind.HEADING:
            assert block.heading_path[-1] == block.text and block.anchor
            anchor = block.anchor
        assert block.anchor == anchor
    assert len({h.anchor for h in headings}) == len(headings), "anchors are unique"

    if name.endswith(".pdf"):
        assert document.pages == pdf_metadata()[name]["pages"]
        pages = {block.page_number for block in document.blocks}
        assert None not in pages and pages <= set(range(1, document.pages + 1))
        if document.pages > 1:
            assert len(pages) > 1, "multi-page files cite more than one page"
    else:
        assert {block.page_number for block in document.blocks} == {None}
    if name in ATTACHMENTS:
        assert any("attached file" in warning for warning in document.warnings), document.warnings
    if name in OCR_FILES:
        assert document.images_ocrd >= 1
        assert any(block.kind == BlockKind.IMAGE_TEXT for block in document.blocks)


# --- Where the real file is the point ------------------------------------------------------------


def _extract_sample(corpus: Path, name: str) -> ExtractedDocument:
    path = corpus / "pdf-samples" / name
    return extract_file(path, filename=path.name, limits=ExtractionLimits(), isolated=False)


def test_real_two_column_latex_is_read_column_by_column(corpus: Path):
    document = _extract_sample(corpus, "026-latex-multicolumn/multicolumn.pdf")
    text = " ".join(b.text for b in document.blocks if b.page_number == 1)
    assert "Lorem ipsum dolor sit amet, consectetuer adipiscing elit." in text
    assert text.index("Curabitur dictum gravida mauris") < text.index("Phasellus adipiscing semper elit")


def test_real_arabic_pdf_keeps_its_shaped_text(corpus: Path):
    document = _extract_sample(corpus, "015-arabic/habibi.pdf")
    assert "حَبيبي" in document.blocks[0].text


def test_wall_clock_limit_kills_a_real_slow_book(corpus: Path):
    path = corpus / "pdf-samples" / "009-pdflatex-geotopo/GeoTopo-komprimiert.pdf"  # ~10 s of parsing and OCR
    started = time.monotonic()
    with pytest.raises(ExtractionError) as info:
        extract_file(path, filename=path.name, limits=ExtractionLimits(timeout=1.5), isolated=True)
    assert info.value.code == "timeout"
    assert time.monotonic() - started < 5
