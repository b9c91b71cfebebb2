"""Settings dicts that fail loudly: a misspelt key would otherwise keep its default without a word.

Every settings dict of the product (CHATBOT_RAG, KNOWLEDGE_RETRIEVAL, each alias of the backend dicts and
its OPTIONS, ...) is checked against the keys its reader knows: in the reading app's AppConfig.ready(), so
`manage.py`, the web server and the worker all refuse to start, and again where it is read, so
`override_settings` in a test meets the same check.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def keys_check(where: str, value: Mapping[str, Any], *, known: Collection[str]) -> None:
    """Raise ImproperlyConfigured naming every key of `value` not in `known`."""
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(f"{where} must be a dict, not {type(value).__name__}.")
    unknown = sorted(str(key) for key in set(value) - set(known))
    if unknown:
        raise ImproperlyConfigured(
            f"{where} has unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}."
        )


def settings_dict(name: str, *, known: Collection[str]) -> dict[str, Any]:
    """The settings dict `name` (empty when unset), checked against `known`."""
    value = getattr(settings, name, {}) or {}
    keys_check(name, value, known=known)
    return dict(value)
