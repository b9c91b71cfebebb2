"""Which kind of file this is: the extension must be allowed AND the content must agree with it."""

from __future__ import annotations

import zipfile
from enum import StrEnum
from pathlib import PurePath
from typing import IO

from .encoding import is_wide_unicode
from .errors import UnsupportedFile
from .limits import ExtractionLimits

_SNIFF_BYTES = 8192


class FileKind(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    TXT = "txt"
    MARKDOWN = "md"


_EXTENSIONS = {
    "pdf": FileKind.PDF,
    "docx": FileKind.DOCX,
    "txt": FileKind.TXT,
    "text": FileKind.TXT,
    "md": FileKind.MARKDOWN,
    "markdown": FileKind.MARKDOWN,
}


def file_extension(filename: str) -> str:
    return PurePath(filename).suffix.lower().lstrip(".")


def sniff_kind(fileobj: IO[bytes], *, filename: str, limits: ExtractionLimits) -> FileKind:
    """Raises ``UnsupportedFile`` unless the extension is allowed and the bytes look like that type.
    Leaves the file positioned at its start."""
    extension = file_extension(filename)
    allowed = ", ".join(f".{ext}" for ext in limits.allowed_extensions)
    if extension not in limits.allowed_extensions or extension not in _EXTENSIONS:
        shown = f".{extension}" if extension else "no extension"
        raise UnsupportedFile(
            f"Files with {shown} are not accepted; upload one of: {allowed}.", code="unsupported_type"
        )
    kind = _EXTENSIONS[extension]
    fileobj.seek(0)
    head = fileobj.read(_SNIFF_BYTES)
    fileobj.seek(0)
    if kind == FileKind.PDF:
        # The header may follow a little junk (Acrobat tolerates 1 KB); anything else is not a PDF.
        if b"%PDF-" not in head[:1024]:
            _mismatch(filename, "a PDF")
    elif kind == FileKind.DOCX:
        if not head.startswith(b"PK\x03\x04") or not _is_docx_zip(fileobj):
            _mismatch(filename, "a Word (.docx) document")
    elif (b"\x00" in head and not is_wide_unicode(head)) or head.startswith(
        (b"%PDF-", b"PK\x03\x04", b"\x89PNG", b"\xff\xd8\xff", b"GIF8")
    ):
        _mismatch(filename, "a text file")
    return kind


def _is_docx_zip(fileobj: IO[bytes]) -> bool:
    try:
        with zipfile.ZipFile(fileobj) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError):
        return False
    finally:
        fileobj.seek(0)
    return "[Content_Types].xml" in names and "word/document.xml" in names


def _mismatch(filename: str, expected: str) -> None:
    raise UnsupportedFile(
        f"“{PurePath(filename).name}” is not {expected}: its content does not match its extension.",
        code="unsupported_type",
    )
