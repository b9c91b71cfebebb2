"""The real services the test suite talks to, and the Celery worker process it starts.

A missing service fails the run with a message naming it: tests never skip because something is down.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"


def unreachable_services() -> list[str]:
    """Names and reasons of the services that do not answer, checked before any test runs."""
    import psycopg
    import redis
    from django.conf import settings
    from elasticsearch import Elasticsearch

    problems: list[str] = []
    db = settings.DATABASES["default"]
    try:
        psycopg.connect(
            host=db["HOST"],
            port=db["PORT"] or 5432,
            user=db["USER"],
            password=db["PASSWORD"],
            dbname=db["NAME"],
            connect_timeout=3,
        ).close()
    except Exception as e:  # noqa: BLE001 - any failure means the service is unusable
        problems.append(f"PostgreSQL at {db['HOST']}:{db['PORT']}: {e}")
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as e:  # noqa: BLE001
        problems.append(f"Redis at {settings.REDIS_URL}: {e}")
    try:
        Elasticsearch(settings.ELASTICSEARCH_URL, request_timeout=5).cluster.health(wait_for_status="yellow")
    except Exception as e:  # noqa: BLE001
        problems.append(f"Elasticsearch at {settings.ELASTICSEARCH_URL}: {e}")
    return problems


def database_url(settings_dict: dict) -> str:
    user = quote(settings_dict["USER"] or "")
    password = quote(settings_dict["PASSWORD"] or "")
    host = settings_dict["HOST"] or "127.0.0.1"
    port = settings_dict["PORT"] or 5432
    return f"postgres://{user}:{password}@{host}:{port}/{settings_dict['NAME']}"


class WorkerProcess:
    """A real `celery worker` subprocess bound to the test database."""

    def __init__(self, *, database_url: str) -> None:
        self.name = f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.database_url = database_url
        self.log_path = ARTIFACTS / "celery-worker.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 60.0) -> None:
        from datacollection.celery import app

        ARTIFACTS.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "DJANGO_SETTINGS_MODULE": "datacollection.settings.test",
        }
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "datacollection",
                "worker",
                "--loglevel=INFO",
                "--concurrency=1",
                "--queues=interactive,bulk",
                f"--hostname={self.name}",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the Celery worker exited with {self.process.returncode}; see {self.log_path}"
                )
            if app.control.ping(destination=[self.name], timeout=1.0):
                return
        self.stop()
        raise RuntimeError(f"the Celery worker did not answer within {timeout:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
