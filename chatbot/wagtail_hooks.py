"""Admin integration of the chatbot's editorial side: the feedback report, the analytics dashboard,
resolving feedback, read-only conversations, the edit-view feedback panel."""

from __future__ import annotations

from typing import Any

from django.urls import path, reverse
from wagtail import hooks
from wagtail.admin.menu import MenuItem
from wagtail_modeladmin.options import modeladmin_register

from chatbot.admin_views import feedback as feedback_views
from chatbot.admin_views import report_files
from chatbot.admin_views.conversations import ConversationsGroup
from chatbot.admin_views.dashboard import DashboardView
from chatbot.admin_views.permissions import user_can_view_chat_logs
from chatbot.admin_views.reports import FeedbackReportView
from chatbot.exports import register_export_log_actions
from chatbot.feedback.selectors import user_may_review_feedback
from chatbot.feedback.signal_handlers import register_signal_handlers

# Idempotent; wagtail_hooks modules are imported in every process when the apps are ready.
register_signal_handlers()

modeladmin_register(ConversationsGroup)


class _FeedbackReportMenuItem(MenuItem):
    def is_shown(self, request: Any) -> bool:
        return user_may_review_feedback(request.user)


class _DashboardMenuItem(MenuItem):
    def is_shown(self, request: Any) -> bool:
        return user_can_view_chat_logs(request.user)


@hooks.register("register_admin_urls")
def chatbot_admin_urls() -> list[Any]:
    return [
        path("chatbot/analytics/", DashboardView.as_view(), name="chatbot_dashboard"),
        path("reports/answer-feedback/", FeedbackReportView.as_view(), name="chatbot_feedback_report"),
        path(
            "reports/answer-feedback/results/",
            FeedbackReportView.as_view(results_only=True),
            name="chatbot_feedback_report_results",
        ),
        path("reports/improvement/", report_files.report_files_view, name="chatbot_report_files"),
        path(
            "reports/improvement/<str:name>",
            report_files.report_file_download,
            name="chatbot_report_file",
        ),
        path(
            "chatbot/feedback/<int:feedback_id>/resolve/",
            feedback_views.feedback_resolve_view,
            name="chatbot_feedback_resolve",
        ),
        path(
            "chatbot/feedback/<str:source_type>/<int:source_id>/resolve/",
            feedback_views.source_resolve_view,
            name="chatbot_feedback_resolve_source",
        ),
    ]


@hooks.register("register_reports_menu_item")
def feedback_report_menu_item() -> MenuItem:
    return _FeedbackReportMenuItem(
        "Answer feedback by page",
        reverse("chatbot_feedback_report"),
        name="answer-feedback",
        icon_name="comment",
        order=1300,
    )


@hooks.register("register_reports_menu_item")
def report_files_menu_item() -> MenuItem:
    return _DashboardMenuItem(
        "Improvement reports", reverse("chatbot_report_files"), name="improvement-reports", order=1310
    )


@hooks.register("register_admin_menu_item")
def dashboard_menu_item() -> MenuItem:
    return _DashboardMenuItem(
        "Chat analytics", reverse("chatbot_dashboard"), name="chat-analytics", icon_name="pick", order=280
    )


hooks.register("register_log_actions", register_export_log_actions)
