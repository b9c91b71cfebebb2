"""Upload validation before storage, and the handler that enforces the size limit while receiving."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import cast

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.http import HttpRequest, JsonResponse
from django.test import override_settings
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from knowledgebase.extraction import ExtractionError, ExtractionLimits, FileKind
from knowledgebase.validation import (
    install_upload_limit,
    upload_rejection,
    validate_bytes,
    validate_upload,
)
from tests.fixtures.pdf import attachment_pdf, damaged_pdf, encrypted_pdf, minimal_pdf
from tests.knowledgebase.test_extraction import (
    blank_pdf_writer,
    png_bytes,
    rewrite_zip,
    sample_docx,
    text_image,
    write_pdf,
)

LIMITS = ExtractionLimits()


def rejection(data: bytes, filename: str, *, limits: ExtractionLimits = LIMITS) -> ExtractionError:
    with pytest.raises(ExtractionError) as info:
        validate_bytes(data, filename=filename, limits=limits)
    assert str(info.value)
    return info.value


def test_accepts_each_kind_and_reports_size_and_hash(tmp_path):
    pdf = minimal_pdf(tmp_path / "minimal.pdf").read_bytes()
    docx_bytes = sample_docx(tmp_path / "a.docx").read_bytes()
    cases = [
        (pdf, "Report.PDF", FileKind.PDF, "pdf"),
        (docx_bytes, "a.docx", FileKind.DOCX, "docx"),
        (b"Hello, world", "notes.txt", FileKind.TXT, "txt"),
        (b"# Title\n\nText", "readme.md", FileKind.MARKDOWN, "md"),
    ]
    for data, filename, kind, extension in cases:
        upload = io.BytesIO(data)
        validated = validate_upload(upload, filename=filename, size=len(data), limits=LIMITS)
        assert validated.kind == kind and validated.extension == extension
        assert validated.size == len(data)
        assert validated.sha256 == hashlib.sha256(data).hexdigest()
        assert upload.tell() == 0, "left ready to be stored"


def test_django_uploaded_file_is_accepted_with_settings_limits():
    data = b"# Title\n\nBody"
    upload = SimpleUploadedFile("guide.md", data, content_type="text/markdown")
    validated = validate_upload(upload, filename="guide.md", size=upload.size)
    assert validated.kind == FileKind.MARKDOWN and validated.size == len(data)


def test_extension_allow_list_and_magic_bytes_must_agree(tmp_path):
    pdf = minimal_pdf(tmp_path / "minimal.pdf").read_bytes()
    assert rejection(pdf, "virus.exe").code == "unsupported_type"
    assert rejection(pdf, "report.docx").code == "unsupported_type"
    assert rejection(b"just text", "fake.pdf").code == "unsupported_type"
    zip_not_word = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(zip_not_word, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert rejection(zip_not_word.getvalue(), "fake.docx").code == "unsupported_type"
    assert rejection(png_bytes(text_image("x")), "image.md").code == "unsupported_type"
    assert rejection(b"text with a \x00 NUL", "a.txt").code == "unsupported_type"
    assert rejection(b"", "a.txt").code == "empty"
    assert (
        rejection(pdf, "a.pdf", limits=ExtractionLimits(allowed_extensions=("md",))).code
        == "unsupported_type"
    )


def test_size_limit_from_declared_and_measured_size():
    data = b"x" * 2048
    limits = ExtractionLimits(max_bytes=1024)
    with pytest.raises(ExtractionError) as info:
        validate_upload(io.BytesIO(data), filename="a.txt", size=len(data), limits=limits)
    assert info.value.code == "too_large"
    with pytest.raises(ExtractionError) as info:  # a lying (or missing) size is measured
        validate_upload(io.BytesIO(data), filename="a.txt", size=None, limits=limits)
    assert info.value.code == "too_large"


def test_pdf_refusals_encrypted_and_corrupt_attachments_only_warned(tmp_path):
    encrypted = encrypted_pdf(tmp_path / "locked.pdf").read_bytes()
    error = rejection(encrypted, "locked.pdf")
    assert error.code == "encrypted_pdf" and "password-protected PDF" in error.message
    attached = attachment_pdf(tmp_path / "attached.pdf").read_bytes()
    warned = validate_bytes(attached, filename="a.pdf", limits=LIMITS)
    assert warned.kind == FileKind.PDF and any("“figures.csv”" in w for w in warned.warnings)
    assert rejection(damaged_pdf(), "broken.pdf").code == "corrupt"
    assert rejection(b"%PDF-1.7\n garbage", "truncated.pdf").code == "corrupt"


def test_docx_refusals_macros_ole_entities_bombs(tmp_path):
    clean = sample_docx(tmp_path / "clean.docx")
    macro = rewrite_zip(clean, tmp_path / "m.docx", add={"word/vbaProject.bin": b"\xd0\xcf"})
    assert rejection(macro.read_bytes(), "m.docx").code == "macro_enabled"

    def macro_content_type(xml: bytes) -> bytes:
        return xml.replace(b"wordprocessingml.document.main+xml", b"ms-word.document.macroEnabled.main+xml")

    docm = rewrite_zip(clean, tmp_path / "d.docx", replace={"[Content_Types].xml": macro_content_type})
    assert rejection(docm.read_bytes(), "d.docx").code == "macro_enabled"
    ole = rewrite_zip(clean, tmp_path / "o.docx", add={"word/embeddings/oleObject1.bin": b"\xd0\xcf"})
    assert rejection(ole.read_bytes(), "o.docx").code == "ole_embedded"

    def entity(xml: bytes) -> bytes:
        return xml.replace(b"?>", b'?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>', 1)

    laughs = rewrite_zip(clean, tmp_path / "l.docx", replace={"word/styles.xml": entity})
    assert rejection(laughs.read_bytes(), "l.docx").code == "xml_entities"

    bomb = rewrite_zip(clean, tmp_path / "b.docx", add={"word/media/pad.xml": b"\0" * 5_000_000})
    assert rejection(bomb.read_bytes(), "b.docx").code == "zip_bomb"
    limits = ExtractionLimits(zip_max_total_bytes=10_000)
    assert rejection(clean.read_bytes(), "c.docx", limits=limits).code == "zip_bomb"

    big = sample_docx(tmp_path / "i.docx", image=png_bytes(text_image("x", size=(3000, 3000))))
    limits = ExtractionLimits(image_max_pixels=1_000_000)
    # An oversized image only costs that image (extraction skips it): a warning, not a refusal.
    warned = validate_bytes(big.read_bytes(), filename="i.docx", limits=limits)
    assert any("3000x3000" in w for w in warned.warnings)
    assert validate_bytes(big.read_bytes(), filename="i.docx", limits=LIMITS).kind == FileKind.DOCX


def test_text_in_a_legacy_encoding_is_accepted_with_a_warning():
    validated = validate_bytes("Ã¼ber caf\xe9".encode("cp1252"), filename="a.txt", limits=LIMITS)
    assert validated.kind == FileKind.TXT
    assert validated.warnings and "Windows-1252" in validated.warnings[0]


def test_scripts_nested_below_the_catalog_are_left_to_extraction(tmp_path):
    """Validation is the cheap pass (catalog only); the full object walk happens at extraction."""
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject, TextStringObject

    from knowledgebase.extraction import extract_file

    writer = blank_pdf_writer()
    action = DictionaryObject(
        {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1)")}
    )
    annotation = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Link"),
            NameObject("/Rect"): ArrayObject([NumberObject(0)] * 4),
            NameObject("/A"): action,
        }
    )
    writer.pages[0][NameObject("/Annots")] = ArrayObject([writer._add_object(annotation)])
    path = write_pdf(writer, tmp_path / "nested.pdf")
    assert validate_bytes(path.read_bytes(), filename="nested.pdf", limits=LIMITS).kind == FileKind.PDF
    with pytest.raises(ExtractionError) as info:
        extract_file(path, filename=path.name, limits=LIMITS, isolated=False)
    assert info.value.code == "pdf_active_content"


# --- The upload handler --------------------------------------------------------------------------

MAX_BYTES = 100 * 1024


@csrf_exempt
def upload_view(request: HttpRequest) -> JsonResponse:
    handler = install_upload_limit(request)
    files = request.FILES  # parsing happens here, through the handler
    rejected = upload_rejection(request)
    stream = request.META["wsgi.input"]
    return JsonResponse(
        {
            "rejected": rejected.code if rejected else None,
            "message": rejected.message if rejected else "",
            "files": {name: cast(UploadedFile, files[name]).size for name in files},
            "handler_received": handler.received,
            "unread_body_bytes": len(stream),  # the test client's FakePayload: bytes never read
        }
    )


urlpatterns = [path("upload/", upload_view)]


@pytest.mark.urls(__name__)
@override_settings(KNOWLEDGE_UPLOAD_MAX_BYTES=MAX_BYTES)
def test_oversized_upload_is_stopped_while_receiving(client):
    body = b"a" * (MAX_BYTES * 20)  # 2 MB against a 100 KB limit
    upload = SimpleUploadedFile("big.txt", body, content_type="text/plain")
    response = client.post("/upload/", {"file": upload, "note": "hello"})
    answer = response.json()
    assert answer["rejected"] == "too_large" and "100 KB limit" in answer["message"]
    assert answer["files"] == {}, "nothing was stored"
    assert answer["unread_body_bytes"] > len(body) // 2, "most of the body was never read"


@override_settings(KNOWLEDGE_UPLOAD_MAX_BYTES=MAX_BYTES)
def test_upload_is_counted_while_it_arrives_not_only_by_its_content_length(rf):
    """Just over the limit but within the form-overhead allowance of Content-Length: the header
    check lets it start, and the byte count stops it within one chunk of the limit."""
    body = b"b" * (MAX_BYTES + 40 * 1024)
    request = rf.post("/upload/", {"file": SimpleUploadedFile("big.txt", body, content_type="text/plain")})
    handler = install_upload_limit(request)
    assert request.FILES == {}
    rejected = upload_rejection(request)
    assert rejected is not None and rejected.code == "too_large"
    assert rejected.extra["max_bytes"] == MAX_BYTES
    assert MAX_BYTES < handler.received <= MAX_BYTES + 64 * 1024, "stopped within one chunk of the limit"


@pytest.mark.urls(__name__)
@override_settings(KNOWLEDGE_UPLOAD_MAX_BYTES=MAX_BYTES)
def test_upload_under_the_limit_passes_through(client):
    body = b"c" * (MAX_BYTES - 10)
    response = client.post(
        "/upload/", {"file": SimpleUploadedFile("ok.txt", body, content_type="text/plain")}
    )
    answer = response.json()
    assert answer["rejected"] is None
    assert answer["files"] == {"file": len(body)}
    assert answer["handler_received"] == len(body)
    assert answer["unread_body_bytes"] == 0


def test_validation_helpers_take_paths_too(tmp_path):
    """Callers holding a stored file validate it the same way (management commands, re-validation)."""
    stored = Path(tmp_path / "guide.md")
    stored.write_text("# Guide\n", encoding="utf-8")
    with stored.open("rb") as handle:
        assert (
            validate_upload(handle, filename=stored.name, size=None, limits=LIMITS).kind == FileKind.MARKDOWN
        )


def test_the_structural_check_runs_in_a_child_under_a_wall_clock(tmp_path):
    """Opening the PDF's objects, the DOCX's zip and decoding a text are parsing of hostile input: the
    web process only hashes and sniffs, and a check past KNOWLEDGE_VALIDATION_TIMEOUT is stopped."""
    pdf = minimal_pdf(tmp_path / "minimal.pdf").read_bytes()
    for data, name in ((pdf, "a.pdf"), (b"# Title\n\nText", "a.md")):
        error = rejection(data, name, limits=ExtractionLimits(validation_timeout=0.001))
        assert error.code == "timeout" and "Checking the file took longer" in error.message
    assert validate_bytes(pdf, filename="a.pdf", limits=ExtractionLimits(validation_timeout=30)).kind == "pdf"


def test_the_structural_check_runs_under_the_memory_limit(tmp_path):
    """The child limits its own address space: at 32 MB it cannot even hold a small DOCX's checks,
    and the refusal says so instead of taking the web process's memory."""
    docx_bytes = sample_docx(tmp_path / "a.docx").read_bytes()
    error = rejection(docx_bytes, "a.docx", limits=ExtractionLimits(memory_mb=32))
    assert error.code == "memory" and "32 MB" in error.message


def test_an_upload_django_spooled_to_disk_is_checked_from_its_temporary_file(tmp_path):
    from django.core.files.uploadedfile import TemporaryUploadedFile

    pdf = attachment_pdf(tmp_path / "attached.pdf").read_bytes()
    upload = TemporaryUploadedFile("attached.pdf", "application/pdf", len(pdf), None)
    upload.write(pdf)
    upload.seek(0)
    validated = validate_upload(upload, filename="attached.pdf", size=len(pdf), limits=LIMITS)
    assert validated.kind == FileKind.PDF and any("“figures.csv”" in w for w in validated.warnings)
    assert upload.tell() == 0
    upload.close()
