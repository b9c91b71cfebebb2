"""The structural checks an upload passes before it is stored, run in a sandboxed child.

``validate_upload`` (knowledgebase/validation.py) hashes and sniffs the file in the web process, then
hands it here: opening the PDF's object tree, the DOCX's zip and its images, and decoding a text's
first MB are parsing of hostile input, so they run in a child with the same kind of limits as
extraction (address space, CPU, a wall clock the parent enforces; ``isolation.check_isolated``).
No Django, and only the parsers it needs (0.3 s to start, against 0.65 s for extraction's child).
"""

from __future__ import annotations

import json
import resource
import sys
import zipfile
from pathlib import Path
from typing import IO, Any

from .archive import read_member
from .docx_safety import check_docx, open_docx_zip
from .encoding import read_text
from .errors import CorruptFile, ExtractionError, FileTooLarge, NoTextFound
from .images import image_size, pixels_allowed, skipped_image
from .limits import ExtractionLimits
from .pdf_safety import attachments_warning, check_pdf_catalog, open_pdf
from .sniff import FileKind

TEXT_SAMPLE_BYTES = 1024 * 1024
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")


def main() -> int:
    """``python -m knowledgebase.extraction.structure``: one JSON request on stdin (``path``, ``kind``,
    ``limits``), limits itself, checks, writes ``{"warnings": [...]}`` or ``{"error": {...}}``."""
    request = json.loads(sys.stdin.read())
    limits = request["limits"]
    memory = int(limits["memory_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(float(limits["validation_timeout"])) + 5  # a backstop; the parent enforces the wall clock
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        with Path(request["path"]).open("rb") as fileobj:
            warnings = check_structure(
                fileobj, kind=FileKind(request["kind"]), limits=ExtractionLimits.from_dict(limits)
            )
        answer: dict[str, Any] = {"warnings": warnings}
    except ExtractionError as e:
        answer = {"error": {"class": type(e).__name__, "code": e.code, "message": e.message}}
    except MemoryError:
        answer = {"error": {"class": "ExtractionLimitExceeded", "code": "memory", "message": ""}}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    return 0


def check_structure(fileobj: IO[bytes], *, kind: FileKind, limits: ExtractionLimits) -> list[str]:
    """Parsers of hostile input fail in any way (``BadZipFile``, pypdf's ``LimitReachedError``, a
    ``struct.error``...): every failure is a refusal with a reason, never an exception that escapes
    as a 500."""
    try:
        if kind == FileKind.PDF:
            return _check_pdf(fileobj, limits=limits)
        if kind == FileKind.DOCX:
            return _check_docx(fileobj, limits=limits)
        return _check_text(fileobj)
    except (ExtractionError, MemoryError):
        raise
    except RecursionError as e:
        raise CorruptFile("The file is nested too deeply to be read.", code="corrupt") from e
    except Exception as e:  # see the docstring; the reason names the parser's complaint
        raise CorruptFile(
            f"The file could not be read ({type(e).__name__}); it may be damaged.", code="corrupt"
        ) from e


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
    """Decoded from its first MB only: nothing holds a whole 25 MB text (nor its 100 MB of decoded
    str) to validate it; the extraction child reads the rest within its memory limit."""
    head = fileobj.read(TEXT_SAMPLE_BYTES)
    if len(head) == TEXT_SAMPLE_BYTES:
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


if __name__ == "__main__":
    sys.exit(main())
