from django.apps import AppConfig


class KnowledgebaseConfig(AppConfig):
    """Knowledge as Wagtail content: pages, uploaded documents, extraction, chunking and indexing."""

    name = "knowledgebase"
    verbose_name = "Knowledge base"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: these modules import models, which exist only once the app registry is ready.
        from knowledgebase.conf import settings_check
        from knowledgebase.filters import filter_sources
        from knowledgebase.signal_handlers import register_signal_handlers
        from search.filters import filter_resolver_register

        settings_check()
        register_signal_handlers()
        filter_resolver_register(filter_sources)
