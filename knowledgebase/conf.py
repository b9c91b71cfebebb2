"""The knowledge pipeline's settings, read where used and checked at start-up (KnowledgebaseConfig)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from wagtail.admin.panels import Panel

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


def edit_panel_classes() -> list[type[Panel]]:
    """The Wagtail panel classes KNOWLEDGE_EDIT_PANELS names (dotted paths), appended to the edit views of
    knowledge pages and documents: the hook through which a higher layer adds a panel there."""
    paths = getattr(settings, "KNOWLEDGE_EDIT_PANELS", [])
    if not isinstance(paths, list | tuple) or not all(isinstance(path, str) for path in paths):
        raise ImproperlyConfigured(f"KNOWLEDGE_EDIT_PANELS must be a list of dotted paths, not {paths!r}.")
    classes: list[type[Panel]] = []
    for path in paths:
        try:
            panel_class = import_string(path)
        except ImportError as e:
            raise ImproperlyConfigured(f"KNOWLEDGE_EDIT_PANELS: cannot import {path!r} ({e}).") from e
        if not (isinstance(panel_class, type) and issubclass(panel_class, Panel)):
            raise ImproperlyConfigured(f"KNOWLEDGE_EDIT_PANELS: {path} is not a Wagtail Panel class.")
        classes.append(panel_class)
    return classes


def edit_panels(*, source_type: str) -> list[Panel]:
    """One instance of each KNOWLEDGE_EDIT_PANELS class for the edit view of a `source_type` ("page",
    "document"); each class takes `source_type` as a keyword argument."""
    return [panel_class(source_type=source_type) for panel_class in edit_panel_classes()]  # type: ignore[call-arg]


def settings_check() -> None:
    """Raise ImproperlyConfigured on a misspelt key or an impossible value in this app's settings."""
    chunking_options()
    ocr_workers()
    edit_panel_classes()
