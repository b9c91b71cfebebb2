from django.apps import AppConfig


class SearchConfig(AppConfig):
    """Knowledge retrieval: embedders, index backends, hybrid search and its evaluation."""

    name = "search"
    verbose_name = "Knowledge search"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: the backends need the app registry, which is ready only now.
        from datacollection.health import health_check_register
        from search.conf import settings_check
        from search.health import search_engine_check

        settings_check()
        health_check_register("search", search_engine_check)
