"""Chat sessions, messages and feedback in the admin: read-only, searchable listings with an inspect
view (wagtail-modeladmin), for people with the "Can view chat logs" permission only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.utils.text import Truncator
from wagtail_modeladmin.helpers import PermissionHelper
from wagtail_modeladmin.options import ModelAdmin, ModelAdminGroup
from wagtail_modeladmin.views import IndexView, InspectView

from chatbot.admin_views.permissions import forbidden, user_can_view_chat_logs
from chatbot.feedback.selectors import feedback_with_question
from chatbot.models import ChatSession, Message, MessageFeedback


class ChatLogsPermissionHelper(PermissionHelper):
    """Listing and inspecting need view_chat_logs; nobody creates, edits or deletes chat data here."""

    def user_can_list(self, user: Any) -> bool:
        return user_can_view_chat_logs(user)

    def user_can_inspect_obj(self, user: Any, obj: Any) -> bool:
        return user_can_view_chat_logs(user)

    def user_can_create(self, user: Any) -> bool:
        return False

    def user_can_edit_obj(self, user: Any, obj: Any) -> bool:
        return False

    def user_can_delete_obj(self, user: Any, obj: Any) -> bool:
        return False


class _ChatLogsOnly:
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not user_can_view_chat_logs(request.user):
            return forbidden(request)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


class ChatLogsIndexView(_ChatLogsOnly, IndexView):
    pass


class ChatLogsInspectView(_ChatLogsOnly, InspectView):
    pass


class ReadOnlyChatAdmin(ModelAdmin):
    permission_helper_class = ChatLogsPermissionHelper
    index_view_class = ChatLogsIndexView
    inspect_view_class = ChatLogsInspectView
    inspect_view_enabled = True
    list_per_page = 50

    def get_admin_urls_for_registration(self) -> tuple[Any, ...]:
        # Only the listing and the inspect view exist: create/edit/delete URLs are not even routed.
        names = {self.url_helper.get_action_url_name(action) for action in ("index", "inspect")}
        return tuple(url for url in super().get_admin_urls_for_registration() if url.name in names)


class ChatSessionAdmin(ReadOnlyChatAdmin):
    model = ChatSession
    menu_label = "Sessions"
    menu_icon = "comment"
    list_display = ("__str__", "user", "created_at", "updated_at", "is_active")
    list_filter = ("is_active", "created_at")
    search_fields = ("title", "user__username", "messages__content")
    inspect_view_fields = ("uuid", "title", "user", "is_active", "scope", "created_at", "updated_at")


class MessageAdmin(ReadOnlyChatAdmin):
    model = Message
    menu_label = "Messages"
    menu_icon = "doc-full"
    list_display = (
        "__str__",
        "session",
        "role",
        "status",
        "declined",
        "quality",
        "cache_hit",
        "response_time",
        "created_at",
    )
    list_filter = ("role", "status", "declined", "cache_hit", "created_at")
    search_fields = ("content", "session__title", "session__user__username")
    inspect_view_fields = (
        "uuid", "session", "role", "content", "sources", "status", "error", "declined", "quality",
        "quality_components", "cache_hit", "model", "tokens_used", "retrieval_time", "first_token_time",
        "response_time", "created_at",
    )  # fmt: skip


class FeedbackInspectView(ChatLogsInspectView):
    """Opens with the question that was asked: an answer's id alone tells a reviewer nothing."""

    def get_fields_dict(self) -> list[dict[str, Any]]:
        annotated = feedback_with_question(MessageFeedback.objects.filter(pk=self.instance.pk)).first()
        return [
            {"label": "Question", "value": getattr(annotated, "question", None) or "—"},
            {"label": "Answer", "value": self.instance.message.content},
            *super().get_fields_dict(),
        ]


class MessageFeedbackAdmin(ReadOnlyChatAdmin):
    model = MessageFeedback
    menu_label = "Feedback"
    menu_icon = "pick"
    inspect_view_class = FeedbackInspectView
    list_display = ("asked", "rating", "comment", "user", "resolved", "created_at")
    list_filter = ("rating", "resolved", "created_at")
    search_fields = ("comment", "message__content", "user__username")
    inspect_view_fields = (
        "user", "rating", "comment", "resolved", "resolved_by", "resolved_at", "metadata", "created_at",
    )  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet[MessageFeedback]:
        return feedback_with_question(super().get_queryset(request)).select_related("user")

    @admin.display(description="Question")
    def asked(self, feedback: MessageFeedback) -> str:
        question = getattr(feedback, "question", None) or "—"
        return Truncator(question).chars(120)


class ConversationsGroup(ModelAdminGroup):
    menu_label = "Conversations"
    menu_icon = "comment"
    menu_order = 270
    items = (ChatSessionAdmin, MessageAdmin, MessageFeedbackAdmin)
