"""Upload validation: runs before anything is stored, and a handler that enforces the size while receiving.

``validate_upload`` is cheap (no text extraction, no OCR) but structural: allowed extension AND matching
content, size, zip bombs, image decompression bombs, macros/OLE/DTDs in DOCX, encrypted PDFs and
document-level active content in PDFs. Extraction repeats the checks in full (every PDF object).
The web process only hashes and sniffs; the parsing runs in a sandboxed child
(``extraction.structure``, ``extraction.isolation.check_isolated``).

The API and the admin install ``KnowledgeUploadHandler`` first in ``request.upload_handlers`` so an
oversized body is refused while it arrives instead of being spooled to disk::

    install_upload_limit(request)          # before request.POST / request.FILES is touched
    rejection = upload_rejection(request)  # an ExtractionError (code "too_large") or None
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest

from search.errors import KnowledgeError

from .extraction.errors import (
    CorruptFile,
    ExtractionError,
    FileTooLarge,
    NoTextFound,
    human_size,
    too_large,
)
from .extraction.isolation import check_isolated
from .extraction.limits import ExtractionLimits
from .extraction.names import check_filename, title_from_filename
from .extraction.sniff import FileKind, file_extension, sniff_kind

logger = logging.getLogger(__name__)

_HASH_CHUNK = 1024 * 1024
# The server's storage cannot take a file: a full disk or quota. The user can do nothing but wait; an
# operator must free space. Other OSErrors (permissions, a missing mount) are faults of the installation.
STORAGE_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def storage_fault(error: OSError, cls: type[KnowledgeError], *, doing: str) -> KnowledgeError:
    """The error for a server-side storage fault while a file is `doing` ("checked", "stored"): 507
    ``storage_full`` for a full disk or quota, 503 ``storage_unavailable`` otherwise; logged."""
    full = error.errno in STORAGE_FULL_ERRNOS
    logger.error(
        "an upload could not be %s (%s): %s", doing, "storage full" if full else "server fault", error
    )
    return cls(
        f"The file could not be {doing}: the server's storage is full. Nothing was saved; try again later."
        if full
        else f"The file could not be {doing}. Nothing was saved; try again later.",
        code="storage_full" if full else "storage_unavailable",
    )


class UploadCheckUnavailable(KnowledgeError):
    """The server could not check the upload (no room for its temporary copy, no process to check it
    in): a fault of the server, not of the file (507 ``storage_full`` / 503 ``storage_unavailable``)."""

    default_code = "storage_unavailable"


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
    """In a sandboxed child (``extraction.structure``), given a path: an uploaded file Django spooled to
    disk is passed as it is, anything else is copied to a temporary file in 1 MB chunks first."""
    try:
        path = getattr(fileobj, "temporary_file_path", None)
        if callable(path):
            return check_isolated(Path(path()), kind=kind, limits=limits)
        with tempfile.NamedTemporaryFile(prefix="upload-check-", suffix=".bin") as copy:
            fileobj.seek(0)
            shutil.copyfileobj(fileobj, copy, _HASH_CHUNK)
            copy.flush()
            return check_isolated(Path(copy.name), kind=kind, limits=limits)
    except OSError as e:
        raise storage_fault(e, UploadCheckUnavailable, doing="checked") from e


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
    "UploadCheckUnavailable",
    "ValidatedUpload",
    "install_upload_limit",
    "upload_rejection",
    "validate_bytes",
    "validate_upload",
]
