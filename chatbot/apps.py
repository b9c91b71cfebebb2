from django.apps import AppConfig


class ChatbotConfig(AppConfig):
    """Chat sessions, grounded answers, streaming and feedback."""

    name = "chatbot"
    verbose_name = "Chatbot"
    default_auto_field = "django.db.models.BigAutoField"
