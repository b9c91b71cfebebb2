"""Site pages of the chat (the REST + SSE API lives in chatbot.api)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from chatbot.templatetags.chat_tags import chat_config

# Staff sign in through Wagtail's login form; it honours ?next=.
LOGIN_URL = "/admin/login/"


@login_required(login_url=LOGIN_URL)
@ensure_csrf_cookie
def chat_page(request: HttpRequest) -> HttpResponse:
    """The full chat: sessions, conversation and the user's own documents."""
    return render(request, "chatbot/chat_page.html", {"chat": chat_config(request, mode="page")})
