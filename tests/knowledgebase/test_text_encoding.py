"""Text as written: encodings detected (BOMs, UTF-16 without BOM, Shift_JIS, Windows-1251/1252),
terminal escapes and control characters dropped, the source's characters kept, the encoding reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.template.loader import render_to_string

from knowledgebase.extraction import ExtractionError, ExtractionLimits, extract_file
from knowledgebase.extraction.builder import clean_text
from knowledgebase.validation import validate_bytes

LIMITS = ExtractionLimits()

JAPANESE = (
    "会議室の予約について\n\n"
    "会議室は前日の午後五時までに総務部へ申し込んでください。"
    "当日の予約は空きがある場合に限り受け付けます。\n\n"
    "利用後は机と椅子を元の位置に戻し、ホワイトボードを消してください。"
)
RUSSIAN = (
    "Правила пользования библиотекой\n\n"
    "Книги выдаются на две недели. Продлить срок можно один раз по телефону или на сайте. "
    "Читальный зал открыт с девяти утра до восьми вечера, кроме воскресенья."
)
GERMAN = "Grüße aus der Geschäftsstelle\n\nDie Öffnungszeiten ändern sich ab März: Montag bis Freitag."


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _read(path: Path, *, isolated: bool = False):
    return extract_file(path, filename=path.name, limits=LIMITS, isolated=isolated)


def _text(document) -> str:
    return "\n\n".join(block.text for block in document.blocks)


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (b"\xef\xbb\xbf" + GERMAN.encode(), "UTF-8"),
        (b"\xff\xfe" + GERMAN.encode("utf-16-le"), "UTF-16"),
        (b"\xfe\xff" + GERMAN.encode("utf-16-be"), "UTF-16"),
        (GERMAN.encode("utf-16-le"), "UTF-16"),  # no BOM
        (GERMAN.encode("utf-16-be"), "UTF-16"),  # no BOM
        (GERMAN.encode("cp1252"), "Windows-1252"),
    ],
)
def test_unicode_and_western_text_reads_as_written(tmp_path, data, encoding):
    path = _write(tmp_path, "notes.txt", data)
    assert validate_bytes(data, filename=path.name, limits=LIMITS).kind == "txt"
    document = _read(path)
    assert _text(document) == GERMAN
    assert document.encoding == encoding and document.stats()["encoding"] == encoding
    assert ("not valid UTF-8" in " ".join(document.warnings)) == (encoding == "Windows-1252")


def test_shift_jis_and_windows_1251_are_detected(tmp_path):
    japanese = _read(_write(tmp_path, "kaigi.txt", JAPANESE.encode("shift_jis")))
    assert _text(japanese) == JAPANESE
    assert japanese.encoding == "Shift_JIS"
    russian = _read(_write(tmp_path, "library.md", RUSSIAN.encode("cp1251")))
    assert "Книги выдаются на две недели." in _text(russian)
    assert russian.encoding == "Windows-1251"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_in_another_alphabet_is_read(tmp_path, codec):
    """Cyrillic UTF-16 has few NULs (only spaces and punctuation): its high bytes are 0x04 or 0x00."""
    data = RUSSIAN.encode(codec)
    path = _write(tmp_path, "biblioteka.md", data)
    assert validate_bytes(data, filename=path.name, limits=LIMITS).kind == "md"
    document = _read(path)
    assert document.encoding == "UTF-16" and _text(document).startswith("Правила пользования")


def test_markdown_in_utf16_keeps_its_headings(tmp_path):
    source = "# Parking\n\nVisitors park on level two.\n\n## Bicycles\n\nRacks by the door."
    document = _read(_write(tmp_path, "parking.md", b"\xff\xfe" + source.encode("utf-16-le")))
    assert [b.text for b in document.blocks if b.kind == "heading"] == ["Parking", "Bicycles"]


def test_terminal_escapes_and_control_characters_are_stripped_not_refused(tmp_path):
    log = "".join(
        f"\x1b[32mINFO\x1b[0m step {n}: \x1b[1mbuilt\x1b[0m \x1b]0;title\x07package{n}\n" for n in range(200)
    )
    man_page = "".join(f"{ch}\x08{ch}" for ch in "Bold") + " end\x0b\n"  # overstruck bold, a vertical tab
    data = ("Build log\n\n" + log + man_page).encode()
    assert validate_bytes(data, filename="build.txt", limits=LIMITS).kind == "txt"
    document = _read(_write(tmp_path, "build.txt", data))
    text = _text(document)
    assert "INFO step 7: built package7" in text and "Bold end" in text
    assert not any(ch in text for ch in "\x1b\x07\x08\x0b")
    assert any("escape sequences" in w for w in document.warnings)


def test_binary_is_still_refused(tmp_path):
    for data in (bytes(range(1, 32)) * 300, b"abc\x00\x01\x02" * 100):
        with pytest.raises(ExtractionError) as info:
            _read(_write(tmp_path, "blob.txt", data))
        assert info.value.code == "unsupported_type"


def test_stored_text_keeps_the_sources_characters():
    """Full-width digits and colons, № and ㎡ are the source's own; only PDF glyph forms (ligatures) are
    turned back into letters."""
    source = "Ｔｅｌ：０３‐１２３４ №5 — 12 ㎡ ﬁle ﬂow"
    assert clean_text(source) == "Ｔｅｌ：０３‐１２３４ №5 — 12 ㎡ file flow"


def test_encoding_survives_the_sandbox_and_shows_on_the_status_panel(tmp_path):
    document = _read(_write(tmp_path, "kaigi.txt", JAPANESE.encode("shift_jis")), isolated=True)
    assert document.encoding == "Shift_JIS" and _text(document) == JAPANESE
    html = render_to_string(
        "knowledgebase/admin/indexing_status_panel.html",
        {"status": {"version": {"stats": document.stats()}, "source_type": "document", "source_id": 1}},
    )
    assert "read as Shift_JIS" in html
