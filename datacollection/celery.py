"""The Celery application. Broker and result backend come from Django settings (CELERY_*)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datacollection.settings.dev")

app = Celery("datacollection")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
