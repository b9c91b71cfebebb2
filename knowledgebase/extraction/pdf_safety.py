"""Opening a PDF and refusing the ones we will not store: encrypted or scripted.

Decision (issue "Knowledge as Wagtail content", part 2): a PDF with JavaScript or a Launch action is
rejected outright rather than sanitised. The original file is stored and offered for download to staff,
so stripping the text out of it would not make the stored copy safe; editors can re-export ("print to
PDF") a clean copy in seconds, and the rejection reason tells them so.

Embedded files (attachments) are different (issue 16): a form that carries a filled-in copy or a
spreadsheet is common, nothing runs when the PDF is opened, and its text and field values are the
knowledge. Such a PDF is read; its attachments are listed in a warning and never parsed.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError, PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

from .errors import CorruptFile, EncryptedFile, UnsafeFile

# Every indirect object is visited at most once; a 117-page LaTeX book has ~4,000. Past this the file
# is implausible for a knowledge document and the walk itself becomes the denial of service.
_MAX_OBJECTS = 500_000

_ACTIVE_ACTIONS = {"/JavaScript": "JavaScript", "/Launch": "an action that launches programs"}
_REEXPORT = " Re-export it without them (for example with \u201cPrint to PDF\u201d) and upload it again."


def open_pdf(source: Path | IO[bytes]) -> PdfReader:
    """A reader over a readable, unencrypted (or empty-password) PDF; raises with the reason otherwise."""
    try:
        reader = PdfReader(source, strict=False)
        if reader.is_encrypted:
            _decrypt_with_empty_password(reader)
        reader.trailer["/Root"].get_object()
        return reader
    except EncryptedFile:
        raise
    # PyPdfError covers PdfReadError and LimitReachedError (a huge xref subsection, for one).
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as e:
        raise CorruptFile(f"The PDF is damaged and cannot be read ({e}).", code="corrupt") from e


def _decrypt_with_empty_password(reader: PdfReader) -> None:
    message = "This is a password-protected PDF. Remove the password and upload it again."
    try:
        ok = reader.decrypt("")
    except (DependencyError, FileNotDecryptedError, NotImplementedError, PdfReadError) as e:
        raise EncryptedFile(message, code="encrypted_pdf") from e
    if not ok:
        raise EncryptedFile(message, code="encrypted_pdf")


def check_pdf_catalog(reader: PdfReader) -> None:
    """The cheap check for validation: document-level scripts and open actions."""
    root = _resolve(reader.trailer["/Root"])
    if not isinstance(root, DictionaryObject):
        raise CorruptFile("The PDF is damaged: it has no document catalog.", code="corrupt")
    names = _resolve(root.get("/Names"))
    if isinstance(names, DictionaryObject) and "/JavaScript" in names:
        _reject("contains JavaScript")
    for key in ("/OpenAction", "/AA"):
        _check_actions(_resolve(root.get(key)), depth=0)


def attachments_warning(names: list[str]) -> str | None:
    if not names:
        return None
    shown = ", ".join(f"“{name}”" for name in names[:10]) + (" and more" if len(names) > 10 else "")
    return f"This PDF carries {len(names)} attached file(s) ({shown}); attachments are listed, not read."


def check_pdf_objects(reader: PdfReader) -> list[str]:
    """The full check for extraction: every object reachable from the trailer, whatever nests it.
    Returns the names of the embedded files it found (they are not parsed)."""
    attachments: list[str] = []
    seen: set[tuple[int, int]] = set()
    stack: list[Any] = [reader.trailer]
    while stack:
        obj = stack.pop()
        if isinstance(obj, IndirectObject):
            ref = (obj.idnum, obj.generation)
            if ref in seen:
                continue
            seen.add(ref)
            if len(seen) > _MAX_OBJECTS:
                raise UnsafeFile(
                    f"The PDF has more than {_MAX_OBJECTS:,} objects; it is too complex to check safely.",
                    code="too_large",
                )
            try:
                obj = obj.get_object()
            except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
                continue  # a dangling reference carries nothing we could run
        if isinstance(obj, DictionaryObject):  # includes streams (their dictionaries, not their data)
            _check_dictionary(obj)
            if "/EF" in obj:  # a file specification with an embedded file
                name = _filespec_name(obj)
                if name not in attachments:
                    attachments.append(name)
            # The embedded files' streams are never followed: their bytes are not ours to parse.
            stack.extend(value for key, value in obj.items() if key not in {"/Parent", "/P", "/EF"})
        elif isinstance(obj, ArrayObject):
            stack.extend(obj)
    return attachments


def _filespec_name(spec: DictionaryObject) -> str:
    for key in ("/UF", "/F"):
        value = _resolve(spec.get(key))
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())[:120]
    return "unnamed"


def _check_dictionary(obj: DictionaryObject) -> None:
    if "/JS" in obj:
        _reject("contains JavaScript")
    action = obj.get("/S")
    if action in _ACTIVE_ACTIONS:
        _reject(f"contains {_ACTIVE_ACTIONS[str(action)]}")


def _check_actions(action: Any, *, depth: int) -> None:
    if depth > 32 or action is None:
        return
    if isinstance(action, ArrayObject):  # an explicit destination, or a /Next list
        for item in action:
            _check_actions(_resolve(item), depth=depth + 1)
        return
    if not isinstance(action, DictionaryObject):
        return
    if "/JS" in action or action.get("/S") in _ACTIVE_ACTIONS:
        _reject("runs an action when it is opened (JavaScript or a program launch)")
    for key in ("/Next", "/O", "/C", "/WC", "/WS", "/DS", "/WP", "/DP"):
        if key in action:
            _check_actions(_resolve(action[key]), depth=depth + 1)


def _resolve(obj: Any) -> Any:
    return obj.get_object() if isinstance(obj, IndirectObject) else obj


def _reject(what: str) -> None:
    raise UnsafeFile(f"This PDF {what}, which we do not accept.{_REEXPORT}", code="pdf_active_content")
