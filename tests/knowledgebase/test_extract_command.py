"""``manage.py extract``: the production pipeline on files, reported per file (text and --json)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from tests.fixtures.documents import docx_with_notes
from tests.fixtures.hostile import docx_with_entry
from tests.fixtures.pdf import PdfBuilder


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("extract", *args, stdout=out)
    return out.getvalue()


def _outlined_pdf(path):
    builder = PdfBuilder()
    first = builder.page(["Parking", "", "Visitors park on level two of the garage, next to the lifts."])
    second = builder.page(["Bicycles", "", "Racks are by the north door; the shed key is at reception."])
    builder.outline("Parking", first)
    builder.outline("Bicycles", second)
    return builder.write(path)


def test_json_reports_status_pages_headings_passages_time_and_memory(tmp_path):
    pdf = _outlined_pdf(tmp_path / "site-guide.pdf")
    notes = docx_with_notes(tmp_path / "survey.docx", footnotes=["Sample of 1,204 households."])
    smuggled = docx_with_entry(tmp_path / "smuggled.docx", "word/document.xml")
    reports = json.loads(_run(str(pdf), str(notes), str(smuggled), "--json"))
    assert [r["status"] for r in reports] == ["ok", "ok", "refused"]

    guide = reports[0]
    assert guide["pages"] == 2 and guide["title"] == "site guide"
    assert [(h["text"], h["anchor"], h["page"]) for h in guide["headings"]] == [
        ("Parking", "parking", 1),
        ("Bicycles", "bicycles", 2),
    ]
    racks = next(p for p in guide["passages"] if "north door" in p["text"])
    assert (racks["heading_path"], racks["anchor"], racks["page"]) == (["Bicycles"], "bicycles", 2)
    assert racks["first_words"].startswith("Racks are by the north door")
    assert guide["seconds"] > 0 and guide["peak_rss_mb"] > 0 and guide["command_rss_mb"] > 0

    assert any(p["heading_path"] == ["Footnotes"] and "1,204" in p["text"] for p in reports[1]["passages"])
    assert reports[2]["code"] == "zip_entry_names" and "appears twice" in reports[2]["reason"]


def test_text_output_names_each_file_with_its_verdict(tmp_path):
    pdf = _outlined_pdf(tmp_path / "site-guide.pdf")
    bad = tmp_path / "binary.txt"
    bad.write_bytes(bytes(range(1, 32)) * 100)
    out = _run(str(pdf), str(bad))
    assert f"{pdf}: ok: “site guide”, 2 pages, 2 headings" in out
    assert "  heading 1: Bicycles #bicycles p.2" in out
    assert "  passage: Bicycles #bicycles p.2: Racks are by the north door" in out
    assert f"{bad}: refused (unsupported_type): The file does not contain readable text." in out


def test_a_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="Not a file"):
        _run(str(tmp_path / "nowhere.pdf"))


def test_the_per_source_passage_cap_is_reported(tmp_path, settings):
    settings.KNOWLEDGE_CHUNKING = {**settings.KNOWLEDGE_CHUNKING, "MAX_PASSAGES": 1}
    report = json.loads(_run(str(_outlined_pdf(tmp_path / "site-guide.pdf")), "--json"))[0]
    assert len(report["passages"]) == 1
    assert any(
        "only the first 1 of 2 passages would be stored" in w and "from page 2 on" in w
        for w in report["warnings"]
    ), report["warnings"]
