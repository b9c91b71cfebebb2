"""Tests: real PostgreSQL, Redis, Elasticsearch and a Celery worker (started by scripts/services.sh).

Each service URL can be overridden from the environment; the defaults match scripts/services.sh.
"""

import os

os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault(
    "DATABASE_URL", "postgres://datacollection:datacollection@127.0.0.1:5432/datacollection"
)
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("ELASTICSEARCH_URL", "http://127.0.0.1:9200")
os.environ.setdefault("KNOWLEDGE_INDEX_NAME", "test-knowledge")
os.environ.setdefault("CACHE_KEY_PREFIX", "test")

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
MEDIA_ROOT = BASE_DIR / "var" / "test-media"  # noqa: F405
PRIVATE_ROOT = BASE_DIR / "var" / "test-private"  # noqa: F405
