"""Refusing DOCX files we will not store: macros, OLE/ActiveX objects, remote templates, XML entity tricks.

Run on the raw zip before python-docx (and lxml) ever parse it; ``validate_upload`` runs it too.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import IO

from .archive import ZIP_READ_ERRORS, check_zip, read_member, verify_entries
from .errors import CorruptFile, UnsafeFile, UnsupportedFile
from .limits import ExtractionLimits

_MACRO_EXTENSIONS = (".docm", ".dotm", ".xlsm", ".xltm", ".pptm", ".potm", ".xlam", ".ppam")
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_EXTERNAL_REL = re.compile(
    rb"<Relationship\b[^>]*Type=\"[^\"]*/(attachedTemplate|oleObject|frame|subDocument)\"[^>]*"
    rb"TargetMode=\"External\"|<Relationship\b[^>]*TargetMode=\"External\"[^>]*"
    rb"Type=\"[^\"]*/(attachedTemplate|oleObject|frame|subDocument)\"",
    re.IGNORECASE,
)
_OLE_REL = re.compile(rb"relationships/(oleObject|control|activeXControlBinary)\"", re.IGNORECASE)


def open_docx_zip(source: Path | IO[bytes]) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except ZIP_READ_ERRORS as e:
        raise CorruptFile(
            "The DOCX file is damaged: it is not a readable zip archive.", code="corrupt"
        ) from e


def check_docx(archive: zipfile.ZipFile, *, limits: ExtractionLimits) -> None:
    check_zip(archive, limits=limits)
    verify_entries(archive, limits=limits)
    names = {info.filename for info in archive.infolist()}
    if "[Content_Types].xml" not in names or "word/document.xml" not in names:
        raise UnsupportedFile(
            "This is not a Word document: the .docx zip has no [Content_Types].xml or word/document.xml.",
            code="unsupported_type",
        )
    lowered = {name.lower() for name in names}
    if any(name.endswith("vbaproject.bin") or name.endswith(_MACRO_EXTENSIONS) for name in lowered):
        _macro()
    if any(
        name.startswith(("word/embeddings/", "word/activex/")) and name.endswith(".bin") for name in lowered
    ):
        _ole()
    for name in sorted(names):
        if not name.lower().endswith((".xml", ".rels")):
            continue
        data = _as_bytes_for_scan(read_member(archive, name, limits=limits))
        if _DTD.search(data):
            raise UnsafeFile(
                f"The DOCX part “{name}” declares a DTD or XML entities, which Word never writes "
                "(a known attack on XML parsers). Save the document again from Word and re-upload it.",
                code="xml_entities",
            )
        if name == "[Content_Types].xml" and (b"macroEnabled" in data or b"vbaProject" in data):
            _macro()
        if name.endswith(".rels"):
            if _OLE_REL.search(data):
                _ole()
            if _EXTERNAL_REL.search(data):
                raise UnsafeFile(
                    "This Word document loads a template, frame or object from an external address "
                    "when opened. Save it as a self-contained .docx and upload it again.",
                    code="external_template",
                )


def _as_bytes_for_scan(data: bytes) -> bytes:
    """XML may be UTF-16; scan the text, not the bytes, so a DTD cannot hide between NULs."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", errors="replace").encode("utf-8")
    return data


def _macro() -> None:
    raise UnsafeFile(
        "This Word document contains macros (VBA). Save it as a macro-free .docx and upload it again.",
        code="macro_enabled",
    )


def _ole() -> None:
    raise UnsafeFile(
        "This Word document embeds OLE objects or ActiveX controls. Remove them (or paste their content "
        "as text or pictures), save, and upload it again.",
        code="ole_embedded",
    )
