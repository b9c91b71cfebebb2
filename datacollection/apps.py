from django.apps import AppConfig


class DatacollectionConfig(AppConfig):
    """Platform pieces: the custom user model, health checks and operator commands."""

    name = "datacollection"
    verbose_name = "Platform"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.checks import Tags, register

        from datacollection.security import api_schema_check
        from datacollection.spreadsheets import wagtail_csv_exports_neutralise
        from datacollection.storage import private_root_check

        wagtail_csv_exports_neutralise()

        register(private_root_check, Tags.security)
        register(api_schema_check, deploy=True)
