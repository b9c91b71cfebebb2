"""Zip containers (DOCX): refuse bombs and smuggling by the central directory, then verify every entry.

``check_zip`` runs before any XML parser sees the archive: entry names (a ``..`` or absolute name is
how a second ``word/document.xml`` or a path outside the package is smuggled in; zipfile and
python-docx silently take the *last* of two equal names), the entry count, the declared sizes and the
compression ratios. ``verify_entries`` then inflates every entry in bounded chunks, so a wrong CRC,
a size that lies about what inflates, or a truncated stream is refused with a reason instead of
surfacing later as a ``BadZipFile`` from deep inside a parser.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator

from .errors import CorruptFile, UnsafeFile
from .limits import ExtractionLimits

_READ_CHUNK = 1024 * 1024
# Drive letters ("C:"), and any control character: none occurs in a name Word (or any OPC writer) uses.
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What zipfile and zlib raise on damaged or lying entries (RuntimeError: encrypted entry; NotImplementedError:
# an unknown compression method; EOFError: a stream cut short).
ZIP_READ_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    RuntimeError,
    NotImplementedError,
)


def check_zip(archive: zipfile.ZipFile, *, limits: ExtractionLimits) -> None:
    """Entry names, entry count, declared sizes and compression ratios. The declared sizes can lie, so
    readers must also stop at ``zip_max_entry_bytes`` while inflating (``read_member`` does)."""
    entries = archive.infolist()
    if len(entries) > limits.zip_max_entries:
        _bomb(f"it holds {len(entries):,} files (at most {limits.zip_max_entries:,} are accepted)")
    check_entry_names(entries)
    total = 0
    for info in entries:
        if info.file_size > limits.zip_max_entry_bytes:
            _bomb(f"“{info.filename}” expands to {info.file_size:,} bytes")
        total += info.file_size
        if total > limits.zip_max_total_bytes:
            _bomb(f"its contents expand to more than {limits.zip_max_total_bytes:,} bytes")
        # Tiny entries compress badly or very well without meaning anything; judge ratios past 1 MB.
        if info.file_size > 1024 * 1024 and info.file_size > limits.zip_max_ratio * max(
            info.compress_size, 1
        ):
            _bomb(f"“{info.filename}” is compressed {info.file_size // max(info.compress_size, 1):,} to 1")


def check_entry_names(entries: list[zipfile.ZipInfo]) -> None:
    """No ``..`` step, no absolute or drive-letter name, no backslash or control character, and no
    name twice (compared case-insensitively: OPC part names are case-insensitive)."""
    seen: set[str] = set()
    for info in entries:
        # zipfile already turned the platform separator into "/"; orig_filename is what the file says.
        raw = getattr(info, "orig_filename", info.filename)
        shown = _CONTROL.sub("?", raw)[:120]
        if _CONTROL.search(raw) or "\\" in raw:
            _smuggle(f"the entry name “{shown}” contains a backslash or a control character")
        if raw.startswith("/") or _DRIVE.match(raw):
            _smuggle(f"the entry name “{shown}” is an absolute path")
        if ".." in raw.split("/"):
            _smuggle(f"the entry name “{shown}” steps out of the package with “..”")
        key = raw.casefold()
        if key in seen:
            _smuggle(f"the entry “{shown}” appears twice, so readers disagree on which one is the document")
        seen.add(key)


def verify_entries(archive: zipfile.ZipFile, *, limits: ExtractionLimits) -> None:
    """Inflate every entry (1 MB at a time, nothing kept): the CRC is checked at each entry's end by
    zipfile, and the inflated size must equal the declared one."""
    total = 0
    for info in archive.infolist():
        if info.is_dir():
            continue
        size = 0
        for chunk in _chunks(archive, info, limits=limits):
            size += len(chunk)
            total += len(chunk)
            if total > limits.zip_max_total_bytes:
                _bomb(f"its contents expand past {limits.zip_max_total_bytes:,} bytes")
        if size != info.file_size:
            raise CorruptFile(
                f"The archive is damaged: “{info.filename}” declares {info.file_size:,} bytes but holds "
                f"{size:,}.",
                code="corrupt",
            )


def _chunks(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, limits: ExtractionLimits) -> Iterator[bytes]:
    size = 0
    try:
        with archive.open(info) as handle:
            while chunk := handle.read(_READ_CHUNK):
                size += len(chunk)
                if size > limits.zip_max_entry_bytes:
                    _bomb(f"“{info.filename}” expands past {limits.zip_max_entry_bytes:,} bytes")
                yield chunk
    except ZIP_READ_ERRORS as e:
        raise damaged(info.filename, e) from e


def read_member(archive: zipfile.ZipFile, name: str, *, limits: ExtractionLimits) -> bytes:
    """Reads one entry, stopping as soon as it inflates past the per-entry limit."""
    try:
        with archive.open(name) as handle:
            data = handle.read(limits.zip_max_entry_bytes + 1)
    except ZIP_READ_ERRORS as e:
        raise damaged(name, e) from e
    if len(data) > limits.zip_max_entry_bytes:
        _bomb(f"“{name}” expands past {limits.zip_max_entry_bytes:,} bytes")
    return data


def damaged(name: str, error: BaseException) -> CorruptFile:
    detail = str(error) or type(error).__name__
    return CorruptFile(
        f"The archive is damaged: its entry “{name}” cannot be read ({detail}).", code="corrupt"
    )


def _bomb(detail: str) -> None:
    raise UnsafeFile(f"This file looks like a zip bomb: {detail}.", code="zip_bomb")


def _smuggle(detail: str) -> None:
    raise UnsafeFile(
        f"This archive is malformed in a way used to hide content: {detail}. Save the document again "
        "from Word and upload it again.",
        code="zip_entry_names",
    )
