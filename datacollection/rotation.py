"""`manage.py rotate_keys`: everything encrypted at rest rewritten with the primary key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.apps import apps
from django.db import models, transaction

from datacollection.encryption import EncryptedTextField, file_decrypt, file_encrypt
from datacollection.storage import EncryptedPrivateStorage

# Rows per UPDATE: a chunk's body and context are a few kB each, so 200 rows keep a batch near 1 MB.
BATCH_SIZE = 200


@dataclass(frozen=True, kw_only=True)
class RotationReport:
    files: int
    values: int


def _stored_names(storage: EncryptedPrivateStorage, folder: str = "") -> Iterator[str]:
    directories, files = storage.listdir(folder)
    for name in files:
        if not name.startswith(".rotate-"):  # a temporary of an interrupted rotation
            yield f"{folder}/{name}" if folder else name
    for directory in directories:
        yield from _stored_names(storage, f"{folder}/{directory}" if folder else directory)


def _encrypted_storages() -> list[EncryptedPrivateStorage]:
    """The encrypting storages of every model's file fields (the private storage, for knowledge files)."""
    found: dict[int, EncryptedPrivateStorage] = {}
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            storage = getattr(field, "storage", None)
            if isinstance(field, models.FileField) and isinstance(storage, EncryptedPrivateStorage):
                found[id(storage)] = storage
    return list(found.values())


def files_rotate() -> int:
    """Every file in those storages, revisions' files included (a file no row names any more is still
    rewritten, so reverting to an old revision works after the old key is dropped)."""
    count = 0
    for storage in _encrypted_storages():
        for name in _stored_names(storage):
            storage.write_raw(name, file_encrypt(file_decrypt(storage.read_raw(name))))
            count += 1
    return count


def values_rotate() -> int:
    """Every EncryptedTextField of every model, read (decrypted by any key) and written (by the primary)."""
    count = 0
    for model in apps.get_models():
        names = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if not names:
            continue
        manager = model._default_manager
        last_pk = None
        while True:
            batch = manager.order_by("pk").only("pk", *names)
            if last_pk is not None:
                batch = batch.filter(pk__gt=last_pk)
            rows = list(batch[:BATCH_SIZE])
            if not rows:
                break
            with transaction.atomic():
                manager.bulk_update(rows, names)
            count += len(rows) * len(names)
            last_pk = rows[-1].pk
    return count


def encrypted_data_rotate() -> RotationReport:
    return RotationReport(files=files_rotate(), values=values_rotate())
