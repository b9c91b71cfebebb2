from django.apps import AppConfig


class SearchConfig(AppConfig):
    """Knowledge retrieval: embedders, index backends, hybrid search and its evaluation."""

    name = "search"
    verbose_name = "Knowledge search"
    default_auto_field = "django.db.models.BigAutoField"
