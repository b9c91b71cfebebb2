"""Settings of editorial feedback, the analytics dashboard, metrics, structured logs and audit.

Star-imported by base.py, which assembles MIDDLEWARE, CELERY_BEAT_SCHEDULE and LOGGING from the pieces
this file and the other areas name (OBSERVABILITY_MIDDLEWARE, OBSERVABILITY_BEAT_SCHEDULE, logging_config).
"""

from __future__ import annotations

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from .env import env_int, env_list, env_str

# --- Feedback becomes work ----------------------------------------------------------------------
# On a thumbs-down with a comment: "none", "comment" (a Wagtail comment on each cited page, documents get
# an email to their owner instead) or "notify" (an email to the owner of each cited page or document).
CHAT_FEEDBACK_ACTION = env_str("CHAT_FEEDBACK_ACTION", "none")
if CHAT_FEEDBACK_ACTION not in {"none", "comment", "notify"}:
    raise ImproperlyConfigured(
        f"CHAT_FEEDBACK_ACTION={CHAT_FEEDBACK_ACTION!r} is not one of: none, comment, notify."
    )
# Sender of the notification emails; empty: Django's DEFAULT_FROM_EMAIL.
CHAT_FEEDBACK_NOTIFY_FROM = env_str("CHAT_FEEDBACK_NOTIFY_FROM")

# --- Improvement report -------------------------------------------------------------------------
# Written by the beat task under PRIVATE_ROOT/<this folder>; `manage.py feedback_report` prints it.
CHAT_FEEDBACK_REPORT_DIR = env_str("CHAT_FEEDBACK_REPORT_DIR", "reports")
CHAT_FEEDBACK_REPORT_DAYS = env_int("CHAT_FEEDBACK_REPORT_DAYS", 30)
OBSERVABILITY_BEAT_SCHEDULE = {
    "chatbot-feedback-report": {
        "task": "chatbot.feedback_report_write",
        # Monday morning: editors start the week with last month's worst pages and content gaps.
        "schedule": crontab(minute=0, hour=6, day_of_week="mon"),
        "kwargs": {"days": CHAT_FEEDBACK_REPORT_DAYS},
        "options": {"queue": "bulk"},
    },
}

# --- Prometheus metrics -------------------------------------------------------------------------
# /metrics answers a staff session or `Authorization: Bearer <METRICS_TOKEN>`; anyone else gets 403.
# With several worker processes (uvicorn --workers N) set PROMETHEUS_MULTIPROC_DIR to an empty directory
# that exists before the workers start: prometheus-client then aggregates the processes' samples.
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_PATH = env_str("METRICS_PATH", "/metrics")
# Celery queues whose length (Redis LLEN) is exported.
METRICS_CELERY_QUEUES = env_list("METRICS_CELERY_QUEUES", ["interactive", "bulk"])

# First in MIDDLEWARE, so every later middleware's log lines carry the request id and its time is measured.
OBSERVABILITY_MIDDLEWARE = ["chatbot.logging.RequestIdMiddleware", "chatbot.metrics.RequestMetricsMiddleware"]
# The endpoint needs request.user (a staff session may read it): base.py puts it after authentication.
METRICS_ENDPOINT_MIDDLEWARE = "chatbot.metrics.MetricsEndpointMiddleware"

# --- Structured logs ----------------------------------------------------------------------------
# LOG_FORMAT=json (default) writes one JSON object per line with the request id; "plain" is for a
# terminal. Every handler masks e-mail addresses, phone numbers, card numbers and IBANs.
LOG_FORMAT = env_str("LOG_FORMAT", "json")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} is not one of: json, plain.")
# How askers' questions appear in logs (chatbot.logging.question_for_log): "masked" (PII masked, then cut
# to CHATBOT_LOG_QUESTION_CHARS characters), "hashed" (an HMAC of the question: repeats are recognisable,
# nothing is readable) or "off". Whole questions at INFO put every asker's wording in the log store.
CHATBOT_LOG_QUESTIONS = env_str("CHATBOT_LOG_QUESTIONS", "masked")
if CHATBOT_LOG_QUESTIONS not in {"masked", "hashed", "off"}:
    raise ImproperlyConfigured(
        f"CHATBOT_LOG_QUESTIONS={CHATBOT_LOG_QUESTIONS!r} is not one of: masked, hashed, off."
    )
CHATBOT_LOG_QUESTION_CHARS = env_int("CHATBOT_LOG_QUESTION_CHARS", 60)


def logging_config(*, level: str, loggers: dict[str, dict[str, str]]) -> dict[str, object]:
    """LOGGING: every handler masked and structured; `loggers` are base.py's levels for noisy libraries."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "chatbot.logging.RequestIdFilter"},
            "pii": {"()": "chatbot.logging.PIIMaskingFilter"},
        },
        "formatters": {
            "json": {
                "()": "chatbot.logging.MaskingJsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            },
            "plain": {
                "()": "chatbot.logging.MaskingFormatter",
                "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s",
            },
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": LOG_FORMAT,
                "filters": ["request_id", "pii"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django attaches its own console handlers to these; configuring them here replaces those with
            # the masked, structured root handler instead of printing records twice.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            "django.server": {"handlers": [], "level": "INFO", "propagate": True},
            # The levels base.py sets for noisy libraries.
            **loggers,
        },
    }
