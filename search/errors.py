"""One error surface for the search layer; the API and the chat map these to visible degradations."""

from __future__ import annotations

from typing import Any


class KnowledgeError(Exception):
    """Base of every domain error: a message for people, a stable code for machines."""

    default_code = "knowledge_error"

    def __init__(self, message: str, *, code: str | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.extra = extra or {}


class SearchError(KnowledgeError):
    default_code = "search_error"


class SearchUnavailable(SearchError):
    """The engine cannot be reached or answered with a server error: transient, worth retrying."""

    default_code = "search_unavailable"


class IndexMismatch(SearchError):
    """The index no longer matches the configuration (e.g. vector dimensions): rebuild it."""

    default_code = "index_mismatch"


class InvalidQuery(SearchError):
    default_code = "invalid_query"


class EmbeddingError(KnowledgeError):
    default_code = "embedding_error"
