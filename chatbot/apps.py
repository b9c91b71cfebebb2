from django.apps import AppConfig


class ChatbotConfig(AppConfig):
    """Chat sessions, grounded answers, streaming and feedback."""

    name = "chatbot"
    verbose_name = "Chatbot"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: these modules import models, which exist only once the app registry is ready.
        from chatbot.conf import settings_check
        from chatbot.feedback.signal_handlers import register_signal_handlers

        settings_check()
        register_signal_handlers()

        from knowledgebase.signals import source_index_changed

        source_index_changed.connect(_index_changed, dispatch_uid="chatbot-answer-cache")


def _index_changed(sender: object, **kwargs: object) -> None:
    # Cached answers were computed on the old index: a new version makes them unreachable.
    from chatbot.rag.cache import index_version_bump

    index_version_bump()
