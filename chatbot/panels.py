"""The "Answer feedback" panel on the edit views of knowledge pages and documents: how many answers cite
the source, their ratings, and the latest unresolved comments, with the question and the answer for readers of
chat logs. Knowledgebase adds it to those views because KNOWLEDGE_EDIT_PANELS names it
(knowledgebase.panels.ObjectListWithEditPanels)."""

from __future__ import annotations

from typing import Any

from wagtail.admin.panels import Panel

from chatbot.admin_views.permissions import user_can_view_chat_logs
from chatbot.feedback.selectors import source_feedback


class AnswerFeedbackPanel(Panel):
    def __init__(self, source_type: str = "page", recent: int = 5, **kwargs: Any) -> None:
        kwargs.setdefault("heading", "Answer feedback")
        super().__init__(**kwargs)
        self.source_type = source_type
        self.recent = recent

    def clone_kwargs(self) -> dict[str, Any]:
        return {**super().clone_kwargs(), "source_type": self.source_type, "recent": self.recent}

    class BoundPanel(Panel.BoundPanel):
        template_name = "chatbot/admin/feedback_panel.html"

        def get_context_data(self, parent_context: Any = None) -> dict[str, Any]:
            context = super().get_context_data(parent_context)
            pk = getattr(self.instance, "pk", None)
            user = getattr(self.request, "user", None)
            # Other people's questions (and the answers, which echo them) need the chat-log permission,
            # like every other place that shows them; editors still see ratings and comments.
            context["show_questions"] = user_can_view_chat_logs(user)
            context["feedback"] = (
                source_feedback(
                    self.panel.source_type,
                    pk,
                    recent=self.panel.recent,
                    with_user=user_can_view_chat_logs(user),
                )
                if pk
                else None
            )
            context["next_url"] = self.request.get_full_path() if self.request else ""
            return context
