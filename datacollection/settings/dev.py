"""Local development (`make run`): SQLite, a worker on a SQLite broker file and local models unless the
environment says otherwise.

DEBUG stays off unless the operator sets it: a `make run` site is used by several people, and a debug
page would show them tracebacks and settings."""

import os

# Readable lines in a terminal; production keeps JSON logs.
os.environ.setdefault("LOG_FORMAT", "plain")
# A fixed key keeps sessions valid across restarts of `make run`; production requires its own.
os.environ.setdefault("SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production")

from .base import *  # noqa: F403
from .env import env_str

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
# Static files come straight from the app folders (no collectstatic) and are re-read when they change.
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Wagtail's image renditions from MEDIA_ROOT/images (a web server does this in production).
SERVE_IMAGE_RENDITIONS = True
