"""Zip containers (DOCX): refuse bombs by their central directory, before anything is inflated."""

from __future__ import annotations

import zipfile

from .errors import UnsafeFile
from .limits import ExtractionLimits


def check_zip(archive: zipfile.ZipFile, *, limits: ExtractionLimits) -> None:
    """Entry count, declared sizes and compression ratios. The declared sizes can lie, so readers
    must also stop at ``zip_max_entry_bytes`` while inflating (``read_member`` does)."""
    entries = archive.infolist()
    if len(entries) > limits.zip_max_entries:
        _bomb(f"it holds {len(entries):,} files (at most {limits.zip_max_entries:,} are accepted)")
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


def read_member(archive: zipfile.ZipFile, name: str, *, limits: ExtractionLimits) -> bytes:
    """Reads one entry, stopping as soon as it inflates past the per-entry limit."""
    with archive.open(name) as handle:
        data = handle.read(limits.zip_max_entry_bytes + 1)
    if len(data) > limits.zip_max_entry_bytes:
        _bomb(f"“{name}” expands past {limits.zip_max_entry_bytes:,} bytes")
    return data


def _bomb(detail: str) -> None:
    raise UnsafeFile(f"This file looks like a zip bomb: {detail}.", code="zip_bomb")
