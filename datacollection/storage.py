"""Where private files live: uploaded knowledge files and the feedback reports.

PRIVATE_ROOT is outside MEDIA_ROOT and STATIC_ROOT (settings refuse otherwise), so neither Django's
development server nor a web server serving /media/ can hand these files out. They leave only through the
permission-checked views (knowledgebase.views, chatbot.admin_views.report_files)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.http import FileResponse


class PrivateFileSystemStorage(FileSystemStorage):
    """A file system storage with no public URL: a link to a private file is a bug, not a feature."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("location", settings.PRIVATE_ROOT)
        super().__init__(**kwargs)

    def url(self, name: str | None) -> str:
        # No public URL. Empty rather than an exception: form widgets (the admin's file field) ask for it
        # and only show a link when there is one.
        return ""


def private_storage() -> Storage:
    """The `private` storage of settings.STORAGES (a callable, so a field's migration names no path)."""
    return storages["private"]


def private_file_response(file: Any, *, filename: str) -> FileResponse:
    """A private file as a download the browser never renders: it may be HTML or SVG an uploader wrote."""
    response = FileResponse(file, as_attachment=True, filename=filename)
    response["Content-Type"] = "application/octet-stream"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


def private_root_check(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """PRIVATE_ROOT must not be inside a folder the site or a web server serves (nor contain one)."""
    from pathlib import Path

    from django.core.checks import Error

    private = Path(settings.PRIVATE_ROOT).resolve()
    errors = []
    for name in ("MEDIA_ROOT", "STATIC_ROOT"):
        served = Path(getattr(settings, name)).resolve()
        if private == served or served in private.parents or private in served.parents:
            errors.append(
                Error(
                    f"PRIVATE_ROOT ({private}) overlaps {name} ({served}), which is served publicly.",
                    hint="Set PRIVATE_ROOT to a folder outside MEDIA_ROOT and STATIC_ROOT.",
                    id="datacollection.E001",
                )
            )
    return errors
