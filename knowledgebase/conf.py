"""The knowledge pipeline's settings, read where used and checked at start-up (KnowledgebaseConfig)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from datacollection.conf import settings_dict

CHUNKING_KEYS = frozenset({"PASSAGE_TOKENS", "OVERLAP_TOKENS", "CONTEXT_TOKENS", "MAX_PASSAGES"})
CHUNKING_DEFAULTS = {"MAX_PASSAGES": 5000}
# More tesseract processes than this on one worker only queue for the cores and multiply the memory
# (~30-60 MB each at 200 dpi).
MAX_OCR_WORKERS = 32


def _positive_int(name: str, value: Any, *, upper: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (upper and value > upper):
        bound = f" and at most {upper}" if upper else ""
        raise ImproperlyConfigured(f"{name} must be a whole number of at least 1{bound}, not {value!r}.")
    return value


def chunking_options() -> dict[str, Any]:
    options = {**CHUNKING_DEFAULTS, **settings_dict("KNOWLEDGE_CHUNKING", known=CHUNKING_KEYS)}
    _positive_int("KNOWLEDGE_CHUNKING['MAX_PASSAGES'] (KNOWLEDGE_MAX_PASSAGES)", options["MAX_PASSAGES"])
    return options


def ocr_workers() -> int:
    """Scanned pages OCR'd at once (KNOWLEDGE_OCR_WORKERS), each by a one-thread tesseract process."""
    return _positive_int(
        "KNOWLEDGE_OCR_WORKERS", getattr(settings, "KNOWLEDGE_OCR_WORKERS", 2), upper=MAX_OCR_WORKERS
    )


def settings_check() -> None:
    """Raise ImproperlyConfigured on a misspelt key or an impossible value in this app's settings."""
    chunking_options()
    ocr_workers()
