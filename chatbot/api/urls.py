"""Routes of the chatbot API (mounted at /api/chatbot/ by `chatbot.urls`)."""

from django.urls import path

from . import documents, exports, token_views, views

urlpatterns = [
    path("sessions/", views.SessionListCreateView.as_view(), name="session-list"),
    path("sessions/<uuid:session_uuid>/", views.SessionDetailView.as_view(), name="session-detail"),
    path(
        "sessions/<uuid:session_uuid>/messages/",
        views.MessageListCreateView.as_view(),
        name="message-list",
    ),
    path(
        "sessions/<uuid:session_uuid>/messages/stream/",
        views.MessageStreamView.as_view(),
        name="message-stream",
    ),
    path("sessions/<uuid:session_uuid>/export/", exports.SessionExportView.as_view(), name="session-export"),
    path("messages/<uuid:message_uuid>/feedback/", views.FeedbackView.as_view(), name="message-feedback"),
    path("documents/", documents.DocumentListCreateView.as_view(), name="document-list"),
    path("documents/<int:document_id>/", documents.DocumentDetailView.as_view(), name="document-detail"),
    path(
        "documents/<int:document_id>/status/",
        documents.DocumentStatusView.as_view(),
        name="document-status",
    ),
    path("analytics/feedback/", views.FeedbackAnalyticsView.as_view(), name="feedback-analytics"),
    path("analytics/feedback/export/", exports.FeedbackExportView.as_view(), name="feedback-export"),
    path("auth/token/", token_views.TokenRevokeView.as_view(), name="token-revoke"),
    path("auth/token/rotate/", token_views.TokenRotateView.as_view(), name="token-rotate"),
]
