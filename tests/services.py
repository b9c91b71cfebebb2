"""The real services the test suite talks to, and the Celery worker process it starts.

A missing service fails the run with a message naming it: tests never skip because something is down.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"


def unreachable_services() -> list[str]:
    """Names and reasons of the services that do not answer, checked before any test runs."""
    import logging

    import psycopg
    import redis
    from django.conf import settings
    from elasticsearch import Elasticsearch

    logging.getLogger("elastic_transport").setLevel(logging.CRITICAL)
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
        client = Elasticsearch(settings.ELASTICSEARCH_URL, request_timeout=5, max_retries=0)
        client.cluster.health(wait_for_status="yellow", timeout="5s")
    except Exception as e:  # noqa: BLE001
        problems.append(f"Elasticsearch at {settings.ELASTICSEARCH_URL}: {type(e).__name__}")
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    return problems


def database_url(settings_dict: dict) -> str:
    user = quote(settings_dict["USER"] or "")
    password = quote(settings_dict["PASSWORD"] or "")
    host = settings_dict["HOST"] or "127.0.0.1"
    port = settings_dict["PORT"] or 5432
    return f"postgres://{user}:{password}@{host}:{port}/{settings_dict['NAME']}"


class WorkerProcess:
    """A real `celery worker` subprocess bound to the test database."""

    def __init__(
        self,
        *,
        database_url: str,
        elasticsearch_url: str | None = None,
        env: dict[str, str] | None = None,
        log_name: str = "celery-worker.log",
    ) -> None:
        self.name = f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.database_url = database_url
        self.elasticsearch_url = elasticsearch_url
        self.env = env or {}
        self.log_path = ARTIFACTS / log_name
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 60.0) -> None:
        from datacollection.celery import app

        ARTIFACTS.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "DJANGO_SETTINGS_MODULE": "datacollection.settings.test",
            # Through the test's proxy when given, so a test can cut the engine off from the worker only.
            **({"ELASTICSEARCH_URL": self.elasticsearch_url} if self.elasticsearch_url else {}),
            **self.env,
        }
        log = self.log_path.open("ab" if self.process else "wb")  # a restart keeps the first run's log
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

    def processes(self) -> list[int]:
        """The worker's process id and its descendants' (pool children, their extraction sandboxes)."""
        if not self.process:
            return []
        pids, queue = [], [self.process.pid]
        while queue:
            pid = queue.pop()
            pids.append(pid)
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            queue.extend(int(child) for child in children)
        return pids

    def pool_children(self) -> list[int]:
        if not self.process:
            return []
        pid = self.process.pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def kill(self) -> None:
        """kill -9 the worker and everything under it, as an OOM killer or a lost machine would."""
        import signal

        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process:
            self.process.wait()

    def wait_idle(self, *, timeout: float = 30.0) -> float:
        """Wait until the broker holds no message for this worker, queued or delivered and not yet acked
        (acks_late: a running task stays in kombu's `unacked` hash until it ends). Returns the seconds
        waited. Why: a transactional test's flush TRUNCATEs every table; a task an earlier test sent,
        still running in the session worker, deadlocked with it once (remove_source, test_indexing_order)
        and broke the next test's setup. A task held for a retry countdown also counts, hence the cap."""
        import redis
        from django.conf import settings

        if not self.process or self.process.poll() is not None:
            return 0.0
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        started = time.monotonic()
        try:
            while time.monotonic() - started < timeout:
                queued = sum(
                    client.llen(key)
                    for queue in ("interactive", "bulk")
                    for key in client.scan_iter(match=f"{queue}*", count=100)
                    if client.type(key) == b"list"
                )
                if not queued and not client.hlen("unacked"):
                    break
                time.sleep(0.1)
        finally:
            client.close()
        return time.monotonic() - started

    def stop(self) -> None:
        if self.process:
            process_stop(self.process)


def process_stop(process: subprocess.Popen[bytes], *, grace: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within `grace` seconds; waits for it."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class TcpProxy:
    """A loopback TCP forwarder that a test can switch off, so a service looks down to a client (the
    worker) while it keeps running for everyone else. While off, new connections are refused and open
    ones are cut."""

    def __init__(self, *, target_host: str, target_port: int) -> None:
        import socket

        self.target = (target_host, target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.enabled = True
        # Faults a test can switch on: each chunk a client sends reaches the service `latency` seconds
        # late; with `resetting`, connections are torn down with a TCP RST (SO_LINGER 0) instead.
        self.latency = 0.0
        self.resetting = False
        self._open: set[socket.socket] = set()
        self._closed = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_for(self, url: str) -> str:
        """`url` (redis://, postgres://, http://) with its host and port replaced by this proxy's."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def start(self) -> TcpProxy:
        import threading

        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        import socket
        import threading

        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.enabled:
                client.close()
                continue
            if self.resetting:
                self._reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            # The 5 s was for connecting only: idle connections (a Redis BRPOP, a pooled PostgreSQL
            # connection while the worker embeds) must stay open as long as both ends want them.
            upstream.settimeout(None)
            self._open.update({client, upstream})
            ends = itertools.count()  # next() per direction that has ended (atomic under the GIL)
            for a, b, to_service in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(a, b, to_service, ends), daemon=True).start()

    def _pipe(self, source: object, sink: object, to_service: bool, ends: Iterator[int]) -> None:
        """Copy one direction. Its end is passed on as a half-close (FIN) and the sockets are closed
        only when both directions have ended: closing a socket under the other thread's blocked recv()
        neither wakes it nor ends the connection (the fd stays held by the syscall), which left the
        PostgreSQL sessions of pool children killed through the proxy open until the test database
        was dropped ('being accessed by other users'); cutting both directions at the first EOF would
        lose a reply still on its way."""
        assert isinstance(source, socket.socket) and isinstance(sink, socket.socket)
        try:
            while data := source.recv(65536):
                if to_service and self.latency:
                    time.sleep(self.latency)
                sink.sendall(data)
        except OSError:
            # A reset or a failed send: the connection is over both ways; wake the other direction.
            for s in (source, sink):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
        else:
            with suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
        if next(ends) == 1:  # the other direction ended first: this thread closes both
            for s in (source, sink):
                self._open.discard(s)
                with suppress(OSError):
                    s.close()

    def disable(self) -> None:
        self.enabled = False
        for s in list(self._open):
            # shutdown, not only close: a thread blocked in recv() on the socket wakes up, and the peer
            # sees the connection end at once instead of waiting on a silent socket (a Redis BRPOP would
            # wait its full health-check interval).
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def enable(self) -> None:
        self.enabled = True

    def reset_connections(self) -> None:
        """Start resetting: open connections and every new one get a TCP RST (`heal` ends it)."""
        self.resetting = True
        for s in list(self._open):
            self._reset(s)

    def heal(self) -> None:
        self.resetting = False
        self.latency = 0.0
        self.enabled = True

    @staticmethod
    def _reset(s: socket.socket) -> None:
        import struct

        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # SHUT_RD wakes a thread blocked in recv() without sending a FIN; the close then sends the RST.
            s.shutdown(socket.SHUT_RD)
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass

    def close(self) -> None:
        self._closed = True
        self.disable()
        self.listener.close()


def uvicorn_on_socket(
    listener: socket.socket, *, env: dict[str, str], log_path: Path, lifespan: str = "off"
) -> subprocess.Popen[bytes]:
    """The site's ASGI app in a uvicorn process serving an already-bound `listener` (no port race); the
    caller closes its copy of the socket afterwards. `lifespan="on"` sends lifespan events, as uvicorn's
    default does for the Dockerfile and compose (the MCP mount starts its session manager on them)."""
    with log_path.open("ab") as log:
        return subprocess.Popen(  # fixed argv
            [
                sys.executable,
                "-m",
                "uvicorn",
                "datacollection.asgi:application",
                "--fd",
                str(listener.fileno()),
                "--lifespan",
                lifespan,
                "--log-level",
                "warning",
            ],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=[listener.fileno()],
        )


@dataclass
class ServedSite:
    """A uvicorn process serving the site on loopback (`uvicorn_serve`)."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        process_stop(self.process)


class _Served(Protocol):
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None: ...


ServedT = TypeVar("ServedT", bound=_Served)


@contextmanager
def served_through_test(server: ServedT) -> Iterator[ServedT]:
    """`server` for the test's duration; stopped afterwards, and the test fails if uvicorn exited on its
    own meanwhile (a crash the test's requests might not have noticed)."""
    try:
        yield server
    finally:
        crashed = server.process.poll()
        server.stop()
        assert crashed is None, f"uvicorn exited with {crashed} during the test; see {server.log_path}"


def uvicorn_serve(env: dict[str, str], *, log_name: str, lifespan: str = "off") -> ServedSite:
    """uvicorn on a free loopback port, bound and listening here and handed over, so requests made before
    uvicorn is up wait in the backlog instead of failing."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / log_name
    process = uvicorn_on_socket(listener, env=env, log_path=log_path, lifespan=lifespan)
    listener.close()
    return ServedSite(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
