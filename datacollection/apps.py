from django.apps import AppConfig


class DatacollectionConfig(AppConfig):
    """Platform pieces: the custom user model, health checks and operator commands."""

    name = "datacollection"
    verbose_name = "Platform"
    default_auto_field = "django.db.models.BigAutoField"
