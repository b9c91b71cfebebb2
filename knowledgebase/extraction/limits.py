"""Resource limits of one extraction, read from settings once and passed explicitly (also to the child)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

_SETTINGS = {
    "max_bytes": "KNOWLEDGE_UPLOAD_MAX_BYTES",
    "allowed_extensions": "KNOWLEDGE_UPLOAD_EXTENSIONS",
    "zip_max_entries": "KNOWLEDGE_ZIP_MAX_ENTRIES",
    "zip_max_total_bytes": "KNOWLEDGE_ZIP_MAX_TOTAL_BYTES",
    "zip_max_entry_bytes": "KNOWLEDGE_ZIP_MAX_ENTRY_BYTES",
    "zip_max_ratio": "KNOWLEDGE_ZIP_MAX_RATIO",
    "ocr_enabled": "KNOWLEDGE_OCR_ENABLED",
    "ocr_languages": "KNOWLEDGE_OCR_LANGUAGES",
    "ocr_page_timeout": "KNOWLEDGE_OCR_PAGE_TIMEOUT",
    "ocr_dpi": "KNOWLEDGE_OCR_DPI",
    "ocr_max_pages": "KNOWLEDGE_OCR_MAX_PAGES",
    "ocr_max_images": "KNOWLEDGE_OCR_MAX_IMAGES",
    "ocr_min_image_pixels": "KNOWLEDGE_OCR_MIN_IMAGE_PIXELS",
    "image_max_pixels": "KNOWLEDGE_IMAGE_MAX_PIXELS",
    "pdf_max_pages": "KNOWLEDGE_PDF_MAX_PAGES",
    "timeout": "KNOWLEDGE_EXTRACTION_TIMEOUT",
    "validation_timeout": "KNOWLEDGE_VALIDATION_TIMEOUT",
    "memory_mb": "KNOWLEDGE_EXTRACTION_MEMORY_MB",
}


@dataclass(frozen=True, kw_only=True)
class ExtractionLimits:
    """Defaults equal the settings' defaults, so code without Django (the sandbox child) agrees."""

    max_bytes: int = 25 * 1024 * 1024
    allowed_extensions: tuple[str, ...] = ("pdf", "docx", "txt", "md")
    zip_max_entries: int = 2000
    zip_max_total_bytes: int = 300 * 1024 * 1024
    zip_max_entry_bytes: int = 100 * 1024 * 1024
    zip_max_ratio: float = 200.0
    ocr_enabled: bool = True
    ocr_languages: str = "eng"
    ocr_page_timeout: float = 60.0
    ocr_dpi: int = 200
    ocr_max_pages: int = 200
    ocr_max_images: int = 50
    ocr_workers: int = 2  # scanned pages read at once, one tesseract thread each (one per core here)
    ocr_min_image_pixels: int = 5_000
    image_max_pixels: int = 50_000_000
    pdf_max_pages: int = 2000
    timeout: float = 600.0
    validation_timeout: float = 30.0  # the checks before storing, inside the upload's request
    memory_mb: int = 2048

    @classmethod
    def from_settings(cls) -> ExtractionLimits:
        from django.conf import settings

        from knowledgebase.conf import ocr_workers

        values: dict[str, Any] = {"ocr_workers": ocr_workers()}  # validated (a number of processes)
        for name, setting in _SETTINGS.items():
            if hasattr(settings, setting):
                values[name] = getattr(settings, setting)
        if "allowed_extensions" in values:
            values["allowed_extensions"] = tuple(
                ext.lower().lstrip(".") for ext in values["allowed_extensions"]
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["allowed_extensions"] = list(self.allowed_extensions)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExtractionLimits:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "allowed_extensions" in values:
            values["allowed_extensions"] = tuple(values["allowed_extensions"])
        return cls(**values)
