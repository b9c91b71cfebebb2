"""Who may read chat logs, and the 403 page the admin shows everyone else.

Wagtail's admin turns a raised PermissionDenied into a redirect to the dashboard; these screens answer
403 instead, so a missing permission is visible to clients and tests alike."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.response import TemplateResponse

CHAT_LOGS_PERMISSION = "chatbot.view_chat_logs"


def user_can_view_chat_logs(user: Any) -> bool:
    return bool(user and user.is_active and user.has_perm(CHAT_LOGS_PERMISSION))


def forbidden(request: HttpRequest, *, what: str = "chat logs") -> TemplateResponse:
    return TemplateResponse(
        request,
        "chatbot/admin/forbidden.html",
        {"what": what, "page_title": "Permission denied", "header_title": "Permission denied"},
        status=403,
    )
