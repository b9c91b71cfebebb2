"""Downloads: a user's own session (Markdown with citations, or JSON) and, for readers of chat logs,
feedback with the passages the rated answers cited (CSV or JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from chatbot.exports import feedback_csv, feedback_rows, session_export

from .base import CanViewChatLogs, ChatAPIMixin, request_user
from .exceptions import ApiError
from .serializers import ErrorSerializer
from .views import own_session


def _download(body: str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _format(request: Request, choices: tuple[str, ...]) -> str:
    fmt = request.query_params.get("export_format", choices[0])
    if fmt not in choices:
        raise ApiError(f"export_format must be one of {', '.join(choices)}.", code="invalid_format")
    return fmt


class SessionExportView(ChatAPIMixin, APIView):
    @extend_schema(
        summary="Download one of your sessions: Markdown with its citations, or JSON",
        parameters=[OpenApiParameter("export_format", str, enum=["md", "json"], description="md (default)")],
        responses={(200, "text/markdown"): OpenApiTypes.STR, 404: ErrorSerializer},
    )
    def get(self, request: Request, session_uuid: Any) -> HttpResponse:
        fmt = _format(request, ("md", "json"))
        return _download(*session_export(own_session(request, session_uuid), fmt=fmt))


class FeedbackExportView(ChatAPIMixin, APIView):
    permission_classes: Sequence[Any] = [IsAuthenticated, CanViewChatLogs]

    @extend_schema(
        summary="Download feedback with the passages its answers cited (needs chatbot.view_chat_logs)",
        parameters=[
            OpenApiParameter("days", int, description="Feedback of the last N days (default 30)."),
            OpenApiParameter("export_format", str, enum=["csv", "json"], description="csv (default)"),
        ],
        responses={(200, "text/csv"): OpenApiTypes.STR, 403: ErrorSerializer},
    )
    def get(self, request: Request) -> HttpResponse:
        fmt = _format(request, ("csv", "json"))
        raw = request.query_params.get("days", "30")
        days = min(max(int(raw), 1), 366) if raw.isdigit() else 30
        rows = feedback_rows(since=timezone.now() - timedelta(days=days), viewer=request_user(request))
        stem = f"feedback-{timezone.now():%Y-%m-%d}-{days}d"
        if fmt == "json":
            return _download(json.dumps(rows, indent=2), "application/json", f"{stem}.json")
        return _download(feedback_csv(rows), "text/csv; charset=utf-8", f"{stem}.csv")
