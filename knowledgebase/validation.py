"""Upload validation: runs before anything is stored, and a handler that enforces the size while receiving.

``validate_upload`` is cheap (no text extraction, no OCR) but structural: allowed extension AND matching
content, size, zip bombs, image decompression bombs, macros/OLE/DTDs in DOCX, encrypted PDFs and
document-level active content in PDFs. Extraction repeats the checks in full (every PDF object).

The API and the admin install ``KnowledgeUploadHandler`` first in ``request.upload_handlers`` so an
oversized body is refused while it arrives instead of being spooled to disk::

    install_upload_limit(request)          # before request.POST / request.FILES is touched
    rejection = upload_rejection(request)  # an ExtractionError (code "too_large") or None
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest

from .extraction.archive import read_member
from .extraction.docx_safety import check_docx, open_docx_zip
from .extraction.encoding import read_text
from .extraction.errors import (
    CorruptFile,
    ExtractionError,
    FileTooLarge,
    NoTextFound,
    human_size,
    too_large,
)
from .extraction.limits import ExtractionLimits
from .extraction.names import check_filename, title_from_filename
from .extraction.ocr import image_size, pixels_allowed, skipped_image
from .extraction.pdf_safety import attachments_warning, check_pdf_catalog, open_pdf
from .extraction.sniff import FileKind, file_extension, sniff_kind

_HASH_CHUNK = 1024 * 1024
_TEXT_SAMPLE_BYTES = 1024 * 1024
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True, kw_only=True)
class ValidatedUpload:
    kind: FileKind
    extension: str
    size: int
    sha256: str
    warnings: tuple[str, ...] = ()
    title: str = ""  # from the file name, without quotes, markup or control characters


def validate_upload(
    fileobj: IO[bytes], *, filename: str, size: int | None, limits: ExtractionLimits | None = None
) -> ValidatedUpload:
    """Raises an ``ExtractionError`` subclass (message for the editor, stable ``code``) or returns
    what was validated. ``fileobj`` must be seekable (Django's uploaded files are); it is left at 0."""
    limits = limits or ExtractionLimits.from_settings()
    check_filename(filename)
    _check_size(size, limits=limits)
    digest, measured = _hash(fileobj, limits=limits)
    _check_size(measured, limits=limits)
    if measured == 0:
        raise NoTextFound("The file is empty.", code="empty")
    kind = sniff_kind(fileobj, filename=filename, limits=limits)
    warnings: list[str] = []
    try:
        warnings.extend(_check_structure(fileobj, kind=kind, limits=limits))
    finally:
        fileobj.seek(0)
    return ValidatedUpload(
        kind=kind,
        extension=file_extension(filename),
        size=measured,
        sha256=digest,
        warnings=tuple(warnings),
        title=title_from_filename(filename),
    )


def _check_structure(fileobj: IO[bytes], *, kind: FileKind, limits: ExtractionLimits) -> list[str]:
    """Parsers of hostile input fail in any way (``BadZipFile``, pypdf's ``LimitReachedError``, a
    ``struct.error``...): every failure is a refusal with a reason, never an exception that escapes
    as a 500."""
    try:
        if kind == FileKind.PDF:
            return _check_pdf(fileobj, limits=limits)
        if kind == FileKind.DOCX:
            return _check_docx(fileobj, limits=limits)
        return _check_text(fileobj)
    except ExtractionError:
        raise
    except RecursionError as e:
        raise CorruptFile("The file is nested too deeply to be read.", code="corrupt") from e
    except Exception as e:  # see the docstring; the reason names the parser's complaint
        raise CorruptFile(
            f"The file could not be read ({type(e).__name__}); it may be damaged.", code="corrupt"
        ) from e


def _check_size(size: int | None, *, limits: ExtractionLimits) -> None:
    if size is not None and size > limits.max_bytes:
        raise too_large(size, limits.max_bytes)


def _hash(fileobj: IO[bytes], *, limits: ExtractionLimits) -> tuple[str, int]:
    """SHA-256 and true size, reading at most one chunk past the limit."""
    fileobj.seek(0)
    digest = hashlib.sha256()
    total = 0
    while chunk := fileobj.read(_HASH_CHUNK):
        total += len(chunk)
        if total > limits.max_bytes:
            break
        digest.update(chunk)
    fileobj.seek(0)
    return digest.hexdigest(), total


def _check_pdf(fileobj: IO[bytes], *, limits: ExtractionLimits) -> list[str]:
    reader = open_pdf(fileobj)
    check_pdf_catalog(reader)
    try:
        attached = list(reader.attachments)
    except Exception:  # noqa: BLE001 - a broken name tree: extraction's full walk lists what it can
        attached = []
    warning = attachments_warning(attached)
    try:
        pages = len(reader.pages)
    except Exception as e:  # pypdf raises anything on a broken page tree
        raise CorruptFile(f"The PDF is damaged and its pages cannot be read ({e}).", code="corrupt") from e
    if pages > limits.pdf_max_pages:
        raise FileTooLarge(
            f"The PDF has {pages} pages; at most {limits.pdf_max_pages} are accepted.", code="too_large"
        )
    return [warning] if warning else []


def _check_docx(fileobj: IO[bytes], *, limits: ExtractionLimits) -> list[str]:
    """Bombs and active content refuse the file; an image past the pixel limit only costs that image
    (extraction skips it), so it is a warning."""
    warnings: list[str] = []
    with open_docx_zip(fileobj) as archive:
        check_docx(archive, limits=limits)
        for info in archive.infolist():
            if info.filename.lower().startswith("word/media/") and info.filename.lower().endswith(
                _IMAGE_EXTENSIONS
            ):
                warning = _check_image(archive, info, limits=limits)
                if warning:
                    warnings.append(warning)
    return warnings


def _check_image(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, limits: ExtractionLimits) -> str | None:
    size = image_size(read_member(archive, info.filename, limits=limits))
    if size is not None and not pixels_allowed(*size, limits=limits):
        return skipped_image(f"The image “{info.filename}”", *size)
    return None


def _check_text(fileobj: IO[bytes]) -> list[str]:
    """Decoded from its first MB only: the web process never holds a whole 25 MB text (nor its 100 MB
    of decoded str); the extraction child reads the rest within its memory limit."""
    head = fileobj.read(_TEXT_SAMPLE_BYTES)
    if len(head) == _TEXT_SAMPLE_BYTES:
        head = _whole_lines(head)
    decoded = read_text(head)
    if not decoded.text.strip():
        raise NoTextFound("The file contains no text.", code="no_text")
    return list(decoded.warnings)


def _whole_lines(head: bytes) -> bytes:
    """Cut a sample after its last line break so that no multi-byte character is split (UTF-16 too)."""
    for newline in (b"\n\x00", b"\x00\n", b"\n"):
        cut = head.rfind(newline)
        if cut > len(head) // 2:
            return head[: cut + len(newline)]
    return head


# --- While receiving ---------------------------------------------------------------------------


class KnowledgeUploadHandler(FileUploadHandler):
    """Aborts a multipart upload as soon as one file passes the size limit.

    ``StopUpload(connection_reset=True)`` makes Django stop reading the body (the rest is never
    buffered, in memory or on disk); the reason is left on the request for the view to report.
    Chunks under the limit pass through unchanged to the next handlers, which store the file.
    """

    # Multipart framing and small form fields around the file.
    _FORM_OVERHEAD = 64 * 1024

    def __init__(self, request: HttpRequest | None = None, *, max_bytes: int | None = None) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes if max_bytes is not None else settings.KNOWLEDGE_UPLOAD_MAX_BYTES
        self.received = 0
        self.rejection: FileTooLarge | None = None

    def handle_raw_input(
        self,
        input_data: IO[bytes],
        META: dict[str, Any],  # Django's signature
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> None:
        if content_length > self.max_bytes + self._FORM_OVERHEAD:
            self._reject(content_length)  # known too big from the header: refuse at the first file

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0
        if self.rejection is not None:
            raise StopUpload(connection_reset=True)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self._reject(self.received)
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler builds the UploadedFile

    def _reject(self, size: int) -> None:
        self.rejection = FileTooLarge(
            f"The upload is larger than the {human_size(self.max_bytes)} limit and was refused.",
            code="too_large",
            extra={"received_bytes": size, "max_bytes": self.max_bytes},
        )
        if self.request is not None:
            self.request.knowledge_upload_rejection = self.rejection  # type: ignore[attr-defined]


def install_upload_limit(request: HttpRequest, *, max_bytes: int | None = None) -> KnowledgeUploadHandler:
    """Put the size guard first; call before anything reads ``request.POST`` or ``request.FILES``."""
    handler = KnowledgeUploadHandler(request, max_bytes=max_bytes)
    request.upload_handlers.insert(0, handler)
    return handler


def upload_rejection(request: HttpRequest) -> ExtractionError | None:
    return getattr(request, "knowledge_upload_rejection", None)


def validate_bytes(data: bytes, *, filename: str, limits: ExtractionLimits | None = None) -> ValidatedUpload:
    """Convenience for callers holding the content in memory (tests, management commands)."""
    return validate_upload(io.BytesIO(data), filename=filename, size=len(data), limits=limits)


__all__ = [
    "CorruptFile",
    "KnowledgeUploadHandler",
    "ValidatedUpload",
    "install_upload_limit",
    "upload_rejection",
    "validate_bytes",
    "validate_upload",
]
