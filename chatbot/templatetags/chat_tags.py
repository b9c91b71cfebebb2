"""`{% chat_widget %}`: the chat launcher and panel, on any page that includes it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django import template
from django.conf import settings
from django.http import HttpRequest
from django.middleware.csrf import get_token

from knowledgebase.models import KnowledgeIndexPage, KnowledgePage

register = template.Library()

# Where chatbot/urls.py is mounted (datacollection/urls.py).
API_ROOT = "/api/chatbot/"
LOGIN_URL = "/admin/login/"
# Client-side checks mirror the server's upload validation; the server still decides.
UPLOAD_MAX_BYTES = 25 * 1024 * 1024
UPLOAD_EXTENSIONS = ("pdf", "docx", "txt", "md")


def chat_config(request: HttpRequest, *, mode: str, page: Any = None) -> dict[str, Any]:
    """What the chat's JavaScript reads from its container's data attributes."""
    user = request.user
    authenticated = bool(user.is_authenticated)
    return {
        "mode": mode,
        "api_root": API_ROOT,
        "authenticated": authenticated,
        # Rendering the token also sets the CSRF cookie on the response.
        "csrf_token": get_token(request) if authenticated else "",
        "user_key": str(user.pk) if authenticated else "",
        "login_url": f"{LOGIN_URL}?next={quote(request.get_full_path())}",
        "page_id": getattr(page, "pk", None),
        "page_title": getattr(page, "title", ""),
        **_section(page),
        "upload_max_bytes": UPLOAD_MAX_BYTES,
        "upload_extensions": ",".join(UPLOAD_EXTENSIONS),
        # Answer links go to this site or these hosts only (static/chatbot/markdown.js).
        "link_hosts": ",".join(settings.CHATBOT_ANSWER_LINK_HOSTS),
    }


def _section(page: Any) -> dict[str, Any]:
    """The knowledge section a page sits in (its parent index page): the widget offers to ask it whole,
    through a session filter (search.filters)."""
    parent = page.get_parent() if isinstance(page, KnowledgePage) else None
    if parent is None or parent.specific_class is not KnowledgeIndexPage:
        return {"section_id": None, "section_title": ""}
    return {"section_id": parent.pk, "section_title": parent.title}


@register.inclusion_tag("chatbot/widget.html", takes_context=True)
def chat_widget(context: template.Context, *, scope_page: bool = True) -> dict[str, Any]:
    """The launcher + panel. With `scope_page` (the default) questions are about the current Wagtail page
    first, with a toggle to ask all knowledge instead."""
    request = context["request"]
    page = context.get("page") if scope_page else None
    return {"chat": chat_config(request, mode="widget", page=page)}
