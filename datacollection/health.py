"""Health of the parts the product stands on: database, cache, broker, search engine and worker.

Each check returns "ok ..." or "failed: reason"; none raises, and each is bounded in time so a dead
service makes the page slow by at most HEALTHZ_TIMEOUT per check, never hang.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from datacollection.celery import HEARTBEAT_INTERVAL, HEARTBEAT_KEY, app, broker_supports_broadcast


@dataclass(frozen=True, kw_only=True)
class ComponentHealth:
    name: str
    ok: bool
    detail: str
    required: bool
    elapsed_ms: float

    @property
    def status(self) -> str:
        if not self.ok:
            return f"failed: {self.detail}"
        return f"ok ({self.detail})" if self.detail else "ok"


@dataclass(frozen=True, kw_only=True)
class HealthReport:
    components: list[ComponentHealth]

    @property
    def healthy(self) -> bool:
        return all(c.ok for c in self.components if c.required)

    def as_dict(self) -> dict[str, object]:
        return {
            "status": "ok" if self.healthy else "failed",
            "components": {c.name: c.status for c in self.components},
            "required": [c.name for c in self.components if c.required],
        }


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _check_cache() -> str:
    key = "healthz:probe"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("value written to the cache could not be read back")
    return str(settings.CACHES["default"]["BACKEND"]).rsplit(".", 1)[-1]


def _check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "in-process tasks, no broker configured"

    # The URL is read from settings on each call so a changed setting (and a test) takes effect.
    with app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, timeout=max(1, int(settings.HEALTHZ_TIMEOUT)))
        return f"{conn.transport_cls} broker reachable"


def _check_worker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "in-process tasks"

    if not broker_supports_broadcast(settings.CELERY_BROKER_URL):
        heartbeat = cache.get(HEARTBEAT_KEY)
        age = time.time() - float(heartbeat["at"]) if heartbeat else None
        if age is None or age > 3 * HEARTBEAT_INTERVAL:
            raise RuntimeError("no Celery worker heartbeat in the last 30 s (is the worker running?)")
        return f"worker {heartbeat['hostname']} (heartbeat {age:.0f}s ago)"
    replies = app.control.ping(timeout=settings.HEALTHZ_TIMEOUT)
    if not replies:
        raise RuntimeError(f"no Celery worker answered a ping within {settings.HEALTHZ_TIMEOUT:g}s")
    return f"{len(replies)} worker(s)"


CHECKS: dict[str, Callable[[], str]] = {
    "database": _check_database,
    "cache": _check_cache,
    "broker": _check_broker,
    "worker": _check_worker,
}
# The order /healthz lists components in; checks registered by higher layers slot in by name.
_ORDER = ("database", "cache", "broker", "search", "worker")


def health_check_register(name: str, check: Callable[[], str]) -> None:
    """Let a higher layer add its component (search registers "search" in its AppConfig.ready()), so this
    lowest layer never imports the apps built on it. `check` returns a detail string or raises."""
    CHECKS[name] = check
    ranked = sorted(CHECKS.items(), key=lambda item: _ORDER.index(item[0]) if item[0] in _ORDER else 99)
    CHECKS.clear()
    CHECKS.update(ranked)


def _required(name: str) -> bool:
    required = set(settings.HEALTHZ_REQUIRED)
    # The broker is part of "cache/broker" and of "worker": required whenever either is.
    if name == "broker":
        return bool(required & {"broker", "cache", "worker"})
    return name in required


def health_report() -> HealthReport:
    components = []
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            detail, ok = check(), True
        except Exception as e:  # noqa: BLE001 - a health check reports every failure, whatever its type
            detail, ok = f"{type(e).__name__}: {e}".strip()[:300], False
        components.append(
            ComponentHealth(
                name=name,
                ok=ok,
                detail=detail,
                required=_required(name),
                elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
            )
        )
    return HealthReport(components=components)
