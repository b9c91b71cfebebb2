"""Resolving feedback: one item (from the edit-view panel) or every open thumbs-down on answers citing a
source (from the report). GET asks for confirmation, POST resolves; editors of a cited source only."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.http import url_has_allowed_host_and_scheme
from wagtail.admin import messages

from chatbot.admin_views.permissions import forbidden, user_can_view_chat_logs
from chatbot.feedback.selectors import feedback_with_question, user_can_review_source
from chatbot.feedback.services import feedback_resolve, source_feedback_resolve
from chatbot.models import MessageFeedback


def _next_url(request: HttpRequest, default: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, {request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def source_resolve_view(request: HttpRequest, source_type: str, source_id: int) -> HttpResponse:
    if source_type not in {"page", "document"}:
        raise Http404("Unknown source type.")
    if not user_can_review_source(request.user, source_type, source_id):
        return forbidden(request, what="this source's feedback")
    next_url = _next_url(request, "/admin/")
    if request.method == "POST":
        count = source_feedback_resolve(source_type, source_id, user=request.user)
        messages.success(request, f"Marked {count} thumbs-down as resolved.")
        return redirect(next_url)
    return TemplateResponse(
        request,
        "chatbot/admin/feedback_resolve_confirm.html",
        {
            "what": f"every unresolved thumbs-down on answers citing {source_type} {source_id}",
            "next_url": next_url,
        },
    )


def feedback_resolve_view(request: HttpRequest, feedback_id: int) -> HttpResponse:
    feedback = get_object_or_404(feedback_with_question(MessageFeedback.objects.all()), pk=feedback_id)
    cited = set(feedback.message.cited_sources.values_list("source_type", "source_id"))
    if not any(user_can_review_source(request.user, kind, pk) for kind, pk in cited):
        return forbidden(request, what="this feedback")
    next_url = _next_url(request, "/admin/")
    if request.method == "POST":
        feedback_resolve(MessageFeedback.objects.filter(pk=feedback.pk), user=request.user)
        messages.success(request, "Feedback marked as resolved.")
        return redirect(next_url)
    context: dict[str, Any] = {
        "feedback": feedback,
        "what": "this feedback",
        "next_url": next_url,
        "show_questions": user_can_view_chat_logs(request.user),
    }
    return TemplateResponse(request, "chatbot/admin/feedback_resolve_confirm.html", context)
