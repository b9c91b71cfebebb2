"""Optional encryption at rest: uploaded files in the private storage and extracted text in the database.

Keys come from the environment (KNOWLEDGE_ENCRYPTION_KEYS, comma-separated Fernet keys; the first is the
primary, the others only decrypt, so a key can be rotated in: add the new key first, run
`manage.py rotate_keys`, then drop the old one). With no keys nothing is encrypted.

Ciphertext carries a marker (FILE_MARKER / TEXT_MARKER) so data written before encryption was turned on
still reads as it is; `rotate_keys` encrypts it. Reading a marked value without keys fails loudly rather
than handing ciphertext on as text.
"""

from __future__ import annotations

import functools
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

FILE_MARKER = b"DCENC1\n"
TEXT_MARKER = "enc:v1:"


class EncryptionError(Exception):
    """Encrypted data that the configured keys cannot read."""


@functools.cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as e:
        raise ImproperlyConfigured(
            "KNOWLEDGE_ENCRYPTION_KEYS holds a key that is not a Fernet key (32 url-safe base64-encoded "
            "bytes; make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')."
        ) from e


def fernet() -> MultiFernet | None:
    """The configured keys, or None when encryption is off."""
    keys = tuple(k.strip() for k in settings.KNOWLEDGE_ENCRYPTION_KEYS if k.strip())
    return _fernet(keys) if keys else None


def encryption_enabled() -> bool:
    return fernet() is not None


def _decrypt_token(token: bytes) -> bytes:
    keys = fernet()
    if keys is None:
        raise EncryptionError("encrypted data found but KNOWLEDGE_ENCRYPTION_KEYS is not set")
    try:
        return keys.decrypt(token)
    except InvalidToken as e:
        raise EncryptionError("encrypted data that none of KNOWLEDGE_ENCRYPTION_KEYS decrypts") from e


def file_encrypt(data: bytes) -> bytes:
    keys = fernet()
    return data if keys is None else FILE_MARKER + keys.encrypt(data)


def file_decrypt(data: bytes) -> bytes:
    return _decrypt_token(data[len(FILE_MARKER) :]) if data.startswith(FILE_MARKER) else data


def text_encrypt(value: str) -> str:
    keys = fernet()
    if keys is None or value == "":
        # An empty value stays empty: `blank` checks and "no context" filters keep working.
        return value
    return TEXT_MARKER + keys.encrypt(value.encode()).decode("ascii")


def text_decrypt(value: str) -> str:
    if not value.startswith(TEXT_MARKER):
        return value
    return _decrypt_token(value[len(TEXT_MARKER) :].encode("ascii")).decode()


class EncryptedTextField(models.TextField):
    """A TextField stored encrypted when keys are set. Its ciphertext is random per write, so the field
    can be read and written but not filtered on (other than "" for empty)."""

    description = "Text, encrypted at rest when KNOWLEDGE_ENCRYPTION_KEYS is set"

    def deconstruct(self) -> Any:
        # The column is a text column either way; encryption happens in Python. Migrations see a plain
        # TextField, so switching a field to this one needs no migration (nor does turning keys on).
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.TextField", args, kwargs

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return value if value is None else text_decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return value if value is None else text_encrypt(str(value))
