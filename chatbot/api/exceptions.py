"""The API's one error surface: domain errors and DRF's own errors become `{"error": {"code", "message"}}`
bodies with one status code per kind of failure, mapped here and nowhere else."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from chatbot.llm.base import LLMError, LLMUnavailable
from chatbot.logging import request_id_var
from datacollection.db import BUSY_MESSAGE, RETRY_AFTER_SECONDS, database_busy
from knowledgebase.extraction.errors import ExtractionError
from search.errors import EmbeddingError, IndexMismatch, InvalidQuery, KnowledgeError, SearchUnavailable

logger = logging.getLogger(__name__)


class ApiError(KnowledgeError):
    """An error the API itself raises (not found, rate limited, ...); `status` is its HTTP status."""

    status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code, extra=extra)
        if status is not None:
            self.status = status
        self.headers = headers or {}


class RateLimited(ApiError):
    default_code = "rate_limited"
    status = 429


class LimiterUnavailable(ApiError):
    """The rate limiter's store cannot be reached: refuse rather than serve without a limit."""

    default_code = "rate_limiter_unavailable"
    status = 503


class Conflict(ApiError):
    default_code = "conflict"
    status = 409


# By code first (the codes are stable across layers: the chat service's ChatInputError uses
# `empty` / `too_long`, extraction uses `too_large`), then by class.
STATUS_BY_CODE: dict[str, int] = {
    "empty": 400,
    "too_long": 413,
    "too_large": 413,
    "duplicate": 409,
    "invalid_scope": 400,
    "storage_full": 507,  # Insufficient Storage: the server's disk, not the user's file
    "storage_unavailable": 503,
}
STATUS_BY_CLASS: tuple[tuple[type[KnowledgeError], int], ...] = (
    (InvalidQuery, 400),
    (SearchUnavailable, 503),
    (IndexMismatch, 503),
    (EmbeddingError, 503),
)


def knowledge_error_status(error: KnowledgeError) -> int:
    if isinstance(error, ApiError):
        return error.status
    if error.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[error.code]
    for cls, status in STATUS_BY_CLASS:
        if isinstance(error, cls):
            return status
    return _class_status_fallback(error)


def _class_status_fallback(error: KnowledgeError) -> int:
    # Imported here: these modules pull in extraction and LLM code the error table does not otherwise need.

    if isinstance(error, LLMUnavailable):
        return 503
    if isinstance(error, LLMError):
        return 502
    if isinstance(error, ExtractionError):
        return 400
    return 500


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The one error shape of the API. `request_id` is the response's X-Request-ID, so a user can quote
    it and an operator finds the request's log lines."""
    body: dict[str, Any] = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    body.setdefault("request_id", request_id_var.get())
    return {"error": body}


def knowledge_error_response(error: KnowledgeError) -> Response:
    status = knowledge_error_status(error)
    if status >= 500:
        logger.warning("API error %s (%s): %s", status, error.code, error.message)
    extra = {k: v for k, v in error.extra.items() if isinstance(v, str | int | float | bool)}
    response = Response(error_body(error.code, error.message, **extra), status=status)
    for name, value in getattr(error, "headers", {}).items():
        response[name] = value
    return response


def database_busy_response() -> Response:
    """No database connection came free within the pool's timeout: try again shortly (not a 500)."""
    logger.warning("API 503 (database_busy): no database connection free within the pool timeout")
    response = Response(error_body("database_busy", BUSY_MESSAGE), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _drf_message(detail: Any) -> str:
    if isinstance(detail, list | tuple) and detail:
        return _drf_message(detail[0])
    if isinstance(detail, dict) and detail:
        field, value = next(iter(detail.items()))
        inner = _drf_message(value)
        return inner if field == "non_field_errors" else f"{field}: {inner}"
    return str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER for the chatbot views (set per view, see `ChatAPIView`)."""
    if isinstance(exc, KnowledgeError):
        return knowledge_error_response(exc)
    if database_busy(exc):
        return database_busy_response()
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, drf.APIException):
        return response
    detail = exc.detail
    code = exc.get_codes()
    if isinstance(code, dict):
        code = "invalid"
    elif isinstance(code, list):
        code = code[0] if code and isinstance(code[0], str) else "invalid"
    extra: dict[str, Any] = {}
    if isinstance(exc, drf.ValidationError):
        extra["fields"] = detail if isinstance(detail, dict) else None
        code = "invalid"
    response.data = error_body(str(code), _drf_message(detail), **extra)
    return response
