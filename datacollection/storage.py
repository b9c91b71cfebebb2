"""Where private files live: uploaded knowledge files and the feedback reports.

PRIVATE_ROOT is outside MEDIA_ROOT and STATIC_ROOT (settings refuse otherwise), so neither Django's
development server nor a web server serving /media/ can hand these files out. They leave only through the
permission-checked views (knowledgebase.views, chatbot.admin_views.report_files).

With KNOWLEDGE_ENCRYPTION_KEYS set, what this storage writes is encrypted (datacollection.encryption) and
what it opens is decrypted, so callers see plaintext and the disk holds ciphertext. Fernet encrypts whole
messages, so a file is held in memory while it is written or read (uploads are capped by
KNOWLEDGE_UPLOAD_MAX_BYTES). Code that needs a path on disk (extraction) asks for `local_copy`."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.http import FileResponse

from datacollection.encryption import FILE_MARKER, file_decrypt, file_encrypt


class PrivateFileSystemStorage(FileSystemStorage):
    """A file system storage with no public URL: a link to a private file is a bug, not a feature."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("location", settings.PRIVATE_ROOT)
        super().__init__(**kwargs)

    def _save(self, name: str, content: Any) -> str:
        # Django leaves a half-written file behind when writing fails (a full disk): remove it, so a failed
        # upload keeps nothing.
        try:
            return super()._save(name, content)  # type: ignore[misc]  # django-stubs lack _save
        except OSError:
            # Only a file this call created: Django refuses to overwrite, so `name` was free before.
            self.delete(name)
            raise

    def url(self, name: str | None) -> str:
        # No public URL. Empty rather than an exception: form widgets (the admin's file field) ask for it
        # and only show a link when there is one.
        return ""


class EncryptedPrivateStorage(PrivateFileSystemStorage):
    """The private storage (settings.STORAGES["private"]), encrypted at rest when keys are set."""

    def _save(self, name: str, content: Any) -> str:
        data = b"".join((content if isinstance(content, File) else File(content)).chunks())
        # django-stubs leaves out Storage's private _save hook, which subclasses are meant to extend.
        return super()._save(name, ContentFile(file_encrypt(data)))  # type: ignore[misc]

    def _open(self, name: str, mode: str = "rb") -> File:
        path = Path(self.path(name))
        with path.open("rb") as raw:
            encrypted = raw.read(len(FILE_MARKER)) == FILE_MARKER
        # A file written before keys were set opens as FileSystemStorage would open it.
        return _DecryptedFile(self, name) if encrypted else File(path.open("rb"))

    def read_raw(self, name: str) -> bytes:
        """The bytes on disk (ciphertext when encrypted): for rotate_keys and the tests."""
        return Path(self.path(name)).read_bytes()

    def write_raw(self, name: str, data: bytes) -> None:
        """Replaces a stored file's bytes in place, atomically (rotate_keys)."""
        path = Path(self.path(name))
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".rotate-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        Path(temporary).replace(path)


class _DecryptedFile(File):
    """The plaintext of an encrypted stored file, in memory; it can be reopened after closing (Django's
    FieldFile.open reopens the file it has), by decrypting again."""

    def __init__(self, storage: EncryptedPrivateStorage, name: str) -> None:
        self.storage = storage
        super().__init__(io.BytesIO(file_decrypt(storage.read_raw(name))), name=name)

    def open(self, mode: str | None = None, *args: Any, **kwargs: Any) -> _DecryptedFile:
        if self.closed:
            self.file = io.BytesIO(file_decrypt(self.storage.read_raw(str(self.name))))
        else:
            self.seek(0)
        return self


@contextlib.contextmanager
def local_copy(field_file: Any) -> Iterator[Path]:
    """A path to the plaintext of a stored file, for code that reads files by path. The stored file
    itself unless it is encrypted, else a private temporary copy removed afterwards."""
    storage = field_file.storage
    if isinstance(storage, FileSystemStorage):
        path = Path(storage.path(field_file.name))
        with path.open("rb") as raw:
            encrypted = raw.read(len(FILE_MARKER)) == FILE_MARKER
        if not encrypted:
            yield path
            return
    with storage.open(field_file.name, "rb") as plain:
        data = plain.read()
    # mkstemp creates the file readable by this user only.
    fd, temporary = tempfile.mkstemp(suffix=Path(field_file.name).suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        yield Path(temporary)
    finally:
        Path(temporary).unlink(missing_ok=True)


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
