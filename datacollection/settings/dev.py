"""Local development (`make run`): SQLite, in-process tasks and local models unless the environment
says otherwise."""

import os

os.environ.setdefault("DEBUG", "1")
# Readable lines in a terminal; production keeps JSON logs.
os.environ.setdefault("LOG_FORMAT", "plain")
# Only used with DEBUG on; a fixed key keeps sessions valid across restarts of `make run`.
os.environ.setdefault("SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production")

from .base import *  # noqa: E402,F403
from .env import env_str  # noqa: E402

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
# The dev server serves static files itself; no collectstatic needed.
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
