"""The Celery application. Broker and result backend come from Django settings (CELERY_*)."""

import logging
import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datacollection.settings.dev")

app = Celery("datacollection")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def task_send(name: str, *, args: tuple[object, ...] = (), queue: str | None = None) -> None:
    """Queue the task registered as `name`. By name, so a service that queues work need not import the
    tasks module that calls it back (that import would be a cycle). CELERY_TASK_ALWAYS_EAGER, an explicit
    opt-in, runs it in this process as `delay()` would. Raises what the broker raises when it is down."""
    from django.conf import settings  # read per call: tests and commands change it

    if settings.CELERY_TASK_ALWAYS_EAGER:
        app.tasks[name].apply(args=args, throw=settings.CELERY_TASK_EAGER_PROPAGATES)
        return
    app.send_task(name, args=args, queue=queue)


@signals.task_prerun.connect
def _fresh_content_types(**kwargs: object) -> None:
    """A worker lives for days and caches ContentType ids; when the table is rebuilt under it (a deploy's
    migrations, a test database flush) the stale ids break every foreign key to it. Re-reading them once
    per task costs a query or two."""
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()


# Brokers without broadcast (kombu's SQLAlchemy and filesystem transports, the embedded default) cannot
# answer `control.ping`; the worker says it is alive through the shared cache instead, and /healthz reads
# it (datacollection.health).
HEARTBEAT_KEY = "celery:worker-heartbeat"
HEARTBEAT_INTERVAL = 10.0


def broker_supports_broadcast(url: str) -> bool:
    return not url.split("://", 1)[0].startswith(("sqla", "filesystem"))


@signals.worker_ready.connect
def _start_heartbeat(sender: object = None, **kwargs: object) -> None:
    import threading
    import time

    from django.conf import settings
    from django.core.cache import cache

    if broker_supports_broadcast(settings.CELERY_BROKER_URL):
        return
    hostname = str(getattr(sender, "hostname", "worker"))

    def beat() -> None:
        while True:
            try:
                cache.set(HEARTBEAT_KEY, {"hostname": hostname, "at": time.time()}, timeout=60)
            except Exception:  # a missed beat shows on /healthz; the worker goes on
                logging.getLogger(__name__).warning("could not write the worker heartbeat", exc_info=True)
            time.sleep(HEARTBEAT_INTERVAL)

    threading.Thread(target=beat, name="worker-heartbeat", daemon=True).start()
