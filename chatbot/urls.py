"""The chatbot's URLs, included by the project at /api/chatbot/."""

from django.urls import include, path

app_name = "chatbot"

urlpatterns = [
    path("", include("chatbot.api.urls")),
]
