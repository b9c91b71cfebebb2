"""The knowledge pipeline's settings dicts, read where used and checked at start-up (KnowledgebaseConfig)."""

from __future__ import annotations

from typing import Any

from datacollection.conf import settings_dict

CHUNKING_KEYS = frozenset({"PASSAGE_TOKENS", "OVERLAP_TOKENS", "CONTEXT_TOKENS"})


def chunking_options() -> dict[str, Any]:
    return settings_dict("KNOWLEDGE_CHUNKING", known=CHUNKING_KEYS)


def settings_check() -> None:
    """Raise ImproperlyConfigured on a misspelt key in this app's settings dicts."""
    chunking_options()
