from django.apps import AppConfig


class ChatbotConfig(AppConfig):
    """Chat sessions, grounded answers, streaming and feedback."""

    name = "chatbot"
    verbose_name = "Chatbot"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chatbot.feedback.signal_handlers import register_signal_handlers

        register_signal_handlers()
