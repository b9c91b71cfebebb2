"""Settings shared by every environment. Everything that differs between machines comes from the
environment (see README, "Configuration"); the defaults are embedded and offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("DATACOLLECTION_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY and not DEBUG:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set and DEBUG is off. Set the SECRET_KEY environment variable to a long "
        "random string (python -c 'import secrets; print(secrets.token_urlsafe(50))') or run with DEBUG=1."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
# Origins besides the site itself that may frame its pages, e.g. a portal embedding the chat widget's page
# (CSP frame-ancestors; datacollection/security.py).
FRAME_ANCESTORS = env_list("FRAME_ANCESTORS", [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "datacollection",
    "knowledgebase",
    "chatbot",
    "search",
    "wagtail.contrib.forms",
    "wagtail.contrib.table_block",
    "wagtail.contrib.redirects",
    "wagtail.contrib.settings",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "wagtail_modeladmin",
    "modelcluster",
    "taggit",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "datacollection.security.ContentSecurityPolicyMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
]

ROOT_URLCONF = "datacollection.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "datacollection.sso.context.sso",
            ],
        },
    },
]

WSGI_APPLICATION = "datacollection.wsgi.application"
ASGI_APPLICATION = "datacollection.asgi.application"

# --- Database -----------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default has three writers on one file (the web server, the worker, beat). WAL lets
    # readers go on while one writes; IMMEDIATE takes the write lock at BEGIN, so a transaction never
    # fails half-way on an upgrade from read to write; the busy timeout makes a writer wait for the lock
    # instead of failing with "database is locked" (no transaction holds it across slow work, see
    # knowledgebase.services, so the wait is milliseconds).
    _sqlite_options = DATABASES["default"].setdefault("OPTIONS", {})
    _sqlite_options["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    _sqlite_options["transaction_mode"] = "IMMEDIATE"
    _sqlite_options["timeout"] = env_float("SQLITE_BUSY_TIMEOUT", 30.0)


def database_pool_configure(databases: dict[str, Any], *, default_max_size: int) -> None:
    """PostgreSQL through a bounded connection pool (Django's, psycopg-pool) when DB_POOL_MAX_SIZE > 0:
    at most that many connections per process whatever the concurrency; a request that finds none free
    within DB_POOL_TIMEOUT seconds is answered 503 database_busy with Retry-After (datacollection.db),
    never 500. The pool replaces persistent connections, so CONN_MAX_AGE is 0 with it."""
    database = databases["default"]
    max_size = env_int("DB_POOL_MAX_SIZE", default_max_size)
    if max_size <= 0 or database["ENGINE"] != "django.db.backends.postgresql":
        return
    database["CONN_MAX_AGE"] = 0
    database.setdefault("OPTIONS", {})["pool"] = {
        "min_size": max(0, min(env_int("DB_POOL_MIN_SIZE", 1), max_size)),
        "max_size": max_size,
        "timeout": env_float("DB_POOL_TIMEOUT", 5.0),
    }


# Off by default here (tests and development keep one connection per thread); production turns it on.
database_pool_configure(DATABASES, default_max_size=0)
# Requests of one server process running Django's code at once (datacollection/admission.py): the others
# wait in the event loop, with no thread or connection, and after REQUEST_QUEUE_TIMEOUT seconds get 503
# with Retry-After. 0: off.
REQUEST_CONCURRENCY = env_int("REQUEST_CONCURRENCY", 32)
REQUEST_QUEUE_TIMEOUT = env_float("REQUEST_QUEUE_TIMEOUT", 30.0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "datacollection.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Redis, cache, Celery -----------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
# Without Redis the broker is a SQLite file (kombu's SQLAlchemy transport): a real worker process with no
# server to run. README, "Embedded default", says why this transport and what it measured.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or f"sqla+sqlite:///{VAR_DIR / 'broker.sqlite3'}")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "datacollection"),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    # Shared by the web server and the worker (rate limits, the answer cache's index version); a
    # per-process memory cache would keep serving answers the worker's reindex made stale.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": 20_000},
        }
    }

CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
# Tasks always go through the broker to a worker process: work inside a web request held the request
# (and SQLite's write lock) for minutes. Only an explicit opt-in runs them in-process.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Retries back off well below this, so a task is never redelivered while it still waits to retry.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
# kombu's SQLAlchemy transport hands every transport option to create_engine(), which refuses unknown
# ones: it gets none (it has no visibility timeout; jobs a dead worker held are recovered from the job
# table, see knowledgebase.services.jobs_recover).
# Seconds between a Redis worker's sweeps for messages a dead worker left unacknowledged; kombu scans on
# every 10th sweep, so such a task comes back within CELERY_VISIBILITY_TIMEOUT + 10 × this (measured:
# 97 s after the kill with a 20 s timeout and kombu's 10 s; the chaos suite sets 1).
CELERY_UNACKED_RESTORE_INTERVAL = env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = (
    {}
    if CELERY_BROKER_URL.startswith("sqla+")
    else {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        "unacked_restore_interval": CELERY_UNACKED_RESTORE_INTERVAL,
    }
)
CELERY_RESULT_EXPIRES = 3600
# Below the visibility timeout, so Redis never redelivers a task that is still running; the extraction
# sandbox has its own, shorter limit (KNOWLEDGE_EXTRACTION_TIMEOUT).
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 1500)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 1800)
if not CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT < CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        "Celery limits must satisfy CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT < "
        "CELERY_VISIBILITY_TIMEOUT, or Redis redelivers running tasks."
    )
CELERY_TASK_DEFAULT_QUEUE = "interactive"
CELERY_TASK_ROUTES = {
    "knowledgebase.reindex_all": {"queue": "bulk"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Search -------------------------------------------------------------------------------------
ELASTICSEARCH_URL = env_str("ELASTICSEARCH_URL")
KNOWLEDGE_INDEX_NAME = env_str("KNOWLEDGE_INDEX_NAME", "knowledge")

if ELASTICSEARCH_URL:
    KNOWLEDGE_SEARCH_BACKENDS: dict[str, dict] = {
        "default": {
            "BACKEND": "search.backends.elasticsearch",
            "URLS": env_list("ELASTICSEARCH_URL"),
            "INDEX": KNOWLEDGE_INDEX_NAME,
            "TIMEOUT": env_float("ELASTICSEARCH_TIMEOUT", 10.0),
            "OPTIONS": {
                # Snowball language of the BM25 fields ("none": unstemmed); a change needs `reindex --all`.
                "text_language": env_str("ELASTICSEARCH_TEXT_LANGUAGE", "english"),
                # kNN top k × this re-scored with the float vectors (needs Elasticsearch ≥ 8.18; 0: off).
                "rescore_oversample": env_float("ELASTICSEARCH_RESCORE_OVERSAMPLE", 2.0),
                # Several nodes in ELASTICSEARCH_URL (comma-separated): 1 replica survives losing one.
                "number_of_replicas": env_int("ELASTICSEARCH_REPLICAS", 0),
            },
        }
    }
else:
    KNOWLEDGE_SEARCH_BACKENDS = {
        "default": {"BACKEND": "search.backends.database", "INDEX": KNOWLEDGE_INDEX_NAME, "OPTIONS": {}}
    }

# Wagtail's own admin search stays on its database backend; knowledge retrieval is ours.
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}

# --- Static and media ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "static_collected")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# dev.py turns this on; production serves renditions from its web server (or a CDN).
SERVE_IMAGE_RENDITIONS = False
# Uploaded knowledge files and feedback reports: never under a served folder (datacollection/storage.py).
PRIVATE_ROOT = Path(env_str("PRIVATE_ROOT", str(VAR_DIR / "private")))
# Fernet keys, comma-separated, the first encrypts: uploaded files and extracted text are then encrypted at
# rest (datacollection/encryption.py; `manage.py rotate_keys` after adding a key). Empty: off.
KNOWLEDGE_ENCRYPTION_KEYS = env_list("KNOWLEDGE_ENCRYPTION_KEYS", [])
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "private": {"BACKEND": "datacollection.storage.EncryptedPrivateStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Internationalisation -----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Wagtail ------------------------------------------------------------------------------------
WAGTAIL_SITE_NAME = env_str("WAGTAIL_SITE_NAME", "Knowledge")
WAGTAILADMIN_BASE_URL = env_str("WAGTAILADMIN_BASE_URL", "http://127.0.0.1:8000")
WAGTAILDOCS_EXTENSIONS = ["pdf", "docx", "txt", "md"]
# Wagtail documents (MEDIA_ROOT/documents/) only through Wagtail's view, which applies collection privacy; a
# web server must serve no more of MEDIA_ROOT than images/ (renditions, public by Wagtail's design).
WAGTAILDOCS_SERVE_METHOD = "serve_view"
WAGTAIL_WORKFLOW_ENABLED = True
# No calls out of the admin: avatars from gravatar.com and the release check leak who uses the admin and
# hang an offline install's pages.
WAGTAIL_GRAVATAR_PROVIDER_URL = None
WAGTAIL_ENABLE_UPDATE_CHECK = False

# --- REST framework -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "chatbot.api.tokens.ExpiringTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
# API tokens older than this are refused (0: never expire); POST /api/chatbot/auth/token/rotate/ renews.
API_TOKEN_TTL_HOURS = env_int("API_TOKEN_TTL_HOURS", 24 * 30)
SPECTACULAR_SETTINGS = {
    # `check --deploy` checks the published schema instead (datacollection.security.api_schema_check).
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
    "TITLE": "Knowledge chatbot API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Health -------------------------------------------------------------------------------------
# Components whose failure makes /healthz answer 503.
HEALTHZ_REQUIRED = env_list("HEALTHZ_REQUIRED", ["database", "cache", "search", "worker"])
HEALTHZ_TIMEOUT = env_float("HEALTHZ_TIMEOUT", 2.0)

# --- Logging ------------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
# Levels for noisy libraries; the handlers and formats are observability.py's (LOGGING is assembled below).
LIBRARY_LOG_LEVELS = {
    "elastic_transport": {"level": "WARNING"},
    "django_tasks": {"level": "WARNING"},
    "django.db.backends": {"level": "INFO"},
}

# --- Per-area settings (each file owns its section) ---------------------------------------------
from .chat import *  # noqa: E402,F403,I001
from .indexing import *  # noqa: E402,F403
from .knowledge import *  # noqa: E402,F403
from .search import *  # noqa: E402,F403
from .observability import *  # noqa: E402,F403
from .sso import *  # noqa: E402,F403

# --- Assembled from the areas, here and nowhere else ------------------------------------------------
CELERY_BEAT_SCHEDULE = {**INDEXING_BEAT_SCHEDULE, **OBSERVABILITY_BEAT_SCHEDULE}  # noqa: F405
MIDDLEWARE = [*OBSERVABILITY_MIDDLEWARE, *MIDDLEWARE]  # noqa: F405
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    METRICS_ENDPOINT_MIDDLEWARE,  # noqa: F405
)
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.messages.middleware.MessageMiddleware") + 1,
    SSO_MIDDLEWARE,  # noqa: F405
)
AUTHENTICATION_BACKENDS = SSO_AUTHENTICATION_BACKENDS  # noqa: F405
LOGGING = logging_config(level=LOG_LEVEL, loggers=LIBRARY_LOG_LEVELS)  # noqa: F405
