"""Why a file was rejected or could not be read: a sentence for the editor, a stable code for machines.

Codes (stable, shown in the admin and the API):

=====================  =====================================================================
``unsupported_type``   extension not allowed, or the content is not what the extension says
``bad_filename``       a file name with control characters (CR, LF...) or bidi overrides
``too_large``          over ``KNOWLEDGE_UPLOAD_MAX_BYTES`` (or too many pages)
``empty``              a zero-byte upload
``encrypted_pdf``      password-protected PDF
``pdf_active_content`` JavaScript, Launch actions or embedded files in a PDF
``macro_enabled``      a DOCX carrying VBA macros (``.docm`` content, ``vbaProject.bin``)
``ole_embedded``       a DOCX embedding OLE objects (``word/embeddings/*.bin``)
``xml_entities``       DTDs / entity declarations in DOCX XML (billion laughs, XXE)
``zip_bomb``           a DOCX whose zip expands past the entry-count / size / ratio limits
``zip_entry_names``    a DOCX zip with ``..``, absolute, duplicate or control-character entry names
``image_bomb``         an image whose pixel count is past ``KNOWLEDGE_IMAGE_MAX_PIXELS``
``corrupt``            the file cannot be parsed
``no_text``            parsed fine, but no text at all (not even from OCR)
``timeout``            extraction ran past its wall-clock limit
``memory``             extraction ran past its memory limit
``worker_failed``      the extraction process died for another reason
=====================  =====================================================================
"""

from __future__ import annotations

from search.errors import KnowledgeError


class ExtractionError(KnowledgeError):
    """Base of every upload / extraction failure. ``str(e)`` is safe to show to the editor."""

    default_code = "extraction_error"


class UnsupportedFile(ExtractionError):
    default_code = "unsupported_type"


class FileTooLarge(ExtractionError):
    default_code = "too_large"


class EncryptedFile(ExtractionError):
    default_code = "encrypted_pdf"


class UnsafeFile(ExtractionError):
    """Content we refuse to store or parse: active content, macros, OLE, entity tricks, bombs."""

    default_code = "unsafe_content"


class CorruptFile(ExtractionError):
    default_code = "corrupt"


class NoTextFound(ExtractionError):
    default_code = "no_text"


class ExtractionLimitExceeded(ExtractionError):
    """Wall-clock or memory limit of the extraction sandbox (codes ``timeout`` / ``memory``)."""

    default_code = "timeout"


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1_048_576:.1f}".removesuffix(".0") + " MB"
    return f"{size / 1024:.0f} KB"


def too_large(size: int, max_bytes: int) -> FileTooLarge:
    return FileTooLarge(
        f"The file is {human_size(size)}; at most {human_size(max_bytes)} is accepted.",
        code="too_large",
        extra={"size": size, "max_bytes": max_bytes},
    )


ERROR_CLASSES: dict[str, type[ExtractionError]] = {
    cls.__name__: cls
    for cls in (
        ExtractionError,
        UnsupportedFile,
        FileTooLarge,
        EncryptedFile,
        UnsafeFile,
        CorruptFile,
        NoTextFound,
        ExtractionLimitExceeded,
    )
}
