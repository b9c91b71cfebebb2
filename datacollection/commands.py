"""Helpers shared by management commands."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError


def command_user(username: str | None, *, fallback: str | None = None) -> Any:
    """The user named by a `--user` option; without one, the `fallback` account (created on first use) or
    None. An unknown name is a CommandError."""
    model = get_user_model()
    lookup: dict[str, Any] = {model.USERNAME_FIELD: username or fallback}
    if not username:
        return model.objects.get_or_create(**lookup)[0] if fallback else None
    try:
        return model.objects.get(**lookup)
    except model.DoesNotExist as e:
        raise CommandError(f"No user named {username!r}.") from e
