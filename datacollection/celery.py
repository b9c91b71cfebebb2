"""The Celery application. Broker and result backend come from Django settings (CELERY_*)."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datacollection.settings.dev")

app = Celery("datacollection")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
def _fresh_content_types(**kwargs: object) -> None:
    """A worker lives for days and caches ContentType ids; when the table is rebuilt under it (a deploy's
    migrations, a test database flush) the stale ids break every foreign key to it. Re-reading them once
    per task costs a query or two."""
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
