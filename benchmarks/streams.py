"""Streams under load (issue 19, item 5) on the real services: one uvicorn worker (production settings,
PostgreSQL through the bounded pool, Redis, Elasticsearch) answering with the real pipeline from a slow
OpenAI-compatible model on loopback (tests/llm_server.py SlowLLMServer).

    make bench BENCH=streams
    STREAMS_BENCH_HELD=200 STREAMS_BENCH_POOL=10 .venv/bin/python -m benchmarks.streams

1. STREAMS_BENCH_NEW (100) new questions at once, each in a new session: time to the first byte and to the
   first token (p50/p95), errors, answers per second and per core.
2. STREAMS_BENCH_HELD (500) streams at once, the model sending STREAMS_BENCH_TOKENS (100) tokens, one every
   STREAMS_BENCH_TOKEN_DELAY (0.1) s: the gap between token events as the client reads them (p50/p99),
   errors.
   Meanwhile STREAMS_BENCH_UPLOADS (10) text files are uploaded through the API and processed by a Celery
   worker on the same machine: their HTTP statuses and seconds from upload to indexed.
3. STREAMS_BENCH_DISCONNECTS (100) streams whose clients leave after two tokens: partial answers saved and
   model requests still open 2 s later.
During the first two: peak database connections of the benchmark's database (pg_stat_activity, sampled every
0.25 s), the server's peak RSS and threads. The client runs on the same machine, so its own load is in
the figures. Writes bench-results/streams.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess  # fixed argv
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.sse import _free_port, _proc_status, _start_server, _summary

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results" / "streams.json"
NEW = int(os.environ.get("STREAMS_BENCH_NEW", "100"))
HELD = int(os.environ.get("STREAMS_BENCH_HELD", "500"))
POOL = int(os.environ.get("STREAMS_BENCH_POOL", "20"))
UPLOADS = int(os.environ.get("STREAMS_BENCH_UPLOADS", "10"))
LEAVING = int(os.environ.get("STREAMS_BENCH_DISCONNECTS", "100"))
HELD_TOKENS = int(os.environ.get("STREAMS_BENCH_TOKENS", "100"))
# Seconds between the held streams' model tokens: 0.1 is 10 tokens/s per stream, 5,000 events/s for 500
# streams, which one process on 2 cores does not keep up with; a slower model measures holding alone.
TOKEN_DELAY = float(os.environ.get("STREAMS_BENCH_TOKEN_DELAY", "0.1"))
QUESTION = "How long does the zanzibarite cache keep a template?"
ADMIN_URL = os.environ.get(
    "STREAMS_BENCH_ADMIN_DB", "postgres://datacollection:datacollection@127.0.0.1:5432/postgres"
)

_FIXTURE = """
import os
from chatbot.models import ChatSession
from knowledgebase.models import IndexingJob
from knowledgebase.services import source_sync
from rest_framework.authtoken.models import Token
from tests.factories import heading, knowledge_page, paragraph, site_home, user
page = knowledge_page(site_home(), title="Caching guide", body=[
    heading("Frobnication"),
    paragraph("The zanzibarite cache keeps each template for nine days before rendering it again."),
])
source_sync(IndexingJob.objects.filter(source_type="page", source_id=page.pk).first())
account = user("bench")
count = int(os.environ["STREAMS_BENCH_SESSIONS"])
sessions = ChatSession.objects.bulk_create([ChatSession(user=account) for _ in range(count)])
print(Token.objects.create(user=account).key)
print(" ".join(str(s.uuid) for s in sessions))
"""


def _environment(database: str, index: str, model_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="datacollection.settings.production",
        SECRET_KEY="streams-benchmark-only",  # noqa: S106 - a throwaway server on loopback
        DATABASE_URL=database,
        DB_POOL_MAX_SIZE=str(POOL),
        ELASTICSEARCH_URL=env.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200"),
        REDIS_URL=env.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
        KNOWLEDGE_INDEX_NAME=index,
        CACHE_KEY_PREFIX=index,
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="0",
        LLM_BACKEND="openai",
        OPENAI_BASE_URL=model_url,
        LLM_MODEL="m",
        LLM_MAX_RETRIES="0",
        CHAT_CONDENSE_WITH_LLM="0",
        CHAT_ANSWER_CACHE="0",
        CHAT_MIN_RELEVANCE="0",
        CHATBOT_RATE_MESSAGES="1000000/m",
        LOG_LEVEL="WARNING",
    )
    return env


def _prepare(env: dict[str, str], sessions: int) -> tuple[str, list[str]]:
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)  # noqa: S603
    out = (
        subprocess.run(  # noqa: S603
            [*manage, "shell", "-c", _FIXTURE],
            env={**env, "STREAMS_BENCH_SESSIONS": str(sessions)},
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()
    )
    return out[-2].strip(), out[-1].split()


class Sampler:
    """Peak connections to the benchmark's database and the server's peak RSS, every 0.25 s."""

    def __init__(self, admin_url: str, database: str, pid: int) -> None:
        self.admin_url, self.database, self.pid = admin_url, database, pid
        self.peak_connections = 0
        self.peak_rss_kb = 0
        self.peak_threads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.database,)
                ).fetchone()
                self.peak_connections = max(self.peak_connections, int(row[0]) if row else 0)
                status = _proc_status(self.pid)
                self.peak_rss_kb = max(self.peak_rss_kb, status["rss_kb"])
                self.peak_threads = max(self.peak_threads, status["threads"])
                time.sleep(0.25)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def _ask(host: str, port: int, path: str, token: str, leave_after: int = 0) -> dict[str, Any]:
    """One streamed question over a raw socket. The client shares the server's two cores: httpx spent
    about 3 ms of CPU per request, so the 100th of 100 requests left the client ~300 ms after the first and
    its first byte was read that much later. A pre-built request and a byte scan cost the client little."""
    body = json.dumps({"content": QUESTION}).encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Token {token}\r\n"
        f"Accept: text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body
    started = time.perf_counter()
    first_byte = None
    tokens: list[float] = []
    data = b""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 60)
        writer.write(request)
        while chunk := await asyncio.wait_for(reader.read(65536), 120):
            now = time.perf_counter() - started
            data += chunk
            if first_byte is None and b"\r\n\r\n" in data:
                first_byte = now  # the status line and headers, with the stream's opening comment
            tokens += [now] * chunk.count(b"event: token\n")
            if leave_after and len(tokens) >= leave_after:
                break  # the client goes away mid-stream, as a closed tab does
        writer.close()
    except Exception as e:  # noqa: BLE001 - a failed stream is a result to report
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    complete = b"event: complete" in data or bool(leave_after and len(tokens) >= leave_after)
    return {
        "ok": status == 200 and complete,
        "status": status,
        "error": "" if complete else data[-300:].decode(errors="replace"),
        "first_byte": first_byte,
        "tokens": tokens,
        "seconds": time.perf_counter() - started,
    }


async def _wave(
    base: str, token: str, sessions: list[str], leave_after: int = 0
) -> tuple[list[dict[str, Any]], float]:
    host, port = base.removeprefix("http://").split(":")
    started = time.perf_counter()
    results = await asyncio.gather(
        *(
            _ask(host, int(port), f"/api/chatbot/sessions/{s}/messages/stream/", token, leave_after)
            for s in sessions
        )
    )
    return list(results), time.perf_counter() - started


def _errors(results: list[dict[str, Any]]) -> dict[str, Any]:
    failed = [r for r in results if not r["ok"]]
    return {
        "requests": len(results),
        "failed": len(failed),
        "error_rate": round(len(failed) / len(results), 4) if results else 0.0,
        "failures": sorted({str(r.get("status", "")) + " " + str(r.get("error", ""))[:200] for r in failed})[
            :5
        ],
    }


class Uploads:
    """UPLOADS text files (~100 KB each, distinct) uploaded by one user through the API while the held
    streams run, each polled until its job is indexed or failed (a Celery worker processes them)."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.results: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import httpx

        headers = {"Authorization": f"Token {self.token}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=120) as client:
            pending: dict[int, float] = {}
            for n in range(UPLOADS):
                body = "".join(
                    f"Section {n}.{i}: the zanzibarite cache of batch {n} keeps template {i} {i % 9} days.\n"
                    for i in range(1200)
                )
                sent = time.perf_counter()
                response = client.post(
                    "/api/chatbot/documents/", files={"file": (f"notes-{n}.txt", body.encode(), "text/plain")}
                )
                if response.status_code != 201:
                    self.results.append({"status": response.status_code, "error": response.text[:200]})
                    continue
                pending[response.json()["id"]] = sent
            deadline = time.monotonic() + 300
            while pending and time.monotonic() < deadline:
                for document_id, sent in list(pending.items()):
                    state = client.get(f"/api/chatbot/documents/{document_id}/status/").json()
                    if state.get("status") in ("indexed", "failed", "removed"):
                        seconds = round(time.perf_counter() - sent, 1)
                        self.results.append({"status": 201, "processed": state["status"], "seconds": seconds})
                        del pending[document_id]
                time.sleep(0.5)
            self.results += [{"status": 201, "processed": "not within 300 s"} for _ in pending]

    def __enter__(self) -> Uploads:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(timeout=320)

    def summary(self) -> dict[str, Any]:
        indexed = [r["seconds"] for r in self.results if r.get("processed") == "indexed"]
        return {
            "uploads": UPLOADS,
            "accepted": sum(1 for r in self.results if r["status"] == 201),
            "indexed": len(indexed),
            "outcomes": sorted({str(r.get("processed") or r.get("error")) for r in self.results}),
            "seconds_to_indexed": sorted(indexed),
        }


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A Celery worker for the uploads, with the server's settings (its log is discarded)."""
    command = [sys.executable, "-m", "celery", "-A", "datacollection", "worker", "--concurrency=1"]
    command += ["--queues=interactive,bulk", "--without-gossip", "--without-mingle", "--loglevel=WARNING"]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603


def _held(
    base: str, token: str, sessions: list[str], env: dict[str, str], database: str, pid: int
) -> dict[str, Any]:
    """The held streams, with the uploads processed by a worker meanwhile."""
    worker = _worker(env)
    try:
        with Sampler(ADMIN_URL, database, pid) as sampler, Uploads(base, token) as uploads:
            results, seconds = asyncio.run(_wave(base, token, sessions))
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    ok = [r for r in results if r["ok"]]
    gaps = [b - a for r in ok for a, b in zip(r["tokens"], r["tokens"][1:], strict=False)]
    held = {
        **_errors(results),
        "model_token_interval_ms": TOKEN_DELAY * 1000,
        "token_gap": _summary(gaps),
        "first_byte": _summary([r["first_byte"] for r in ok if r["first_byte"] is not None]),
        "wall_seconds": round(seconds, 2),
        "peak_db_connections": sampler.peak_connections,
        "peak_rss_mb": round(sampler.peak_rss_kb / 1024, 1),
        "peak_threads": sampler.peak_threads,
    }
    return {"held_streams": held, "uploads_during_held_streams": uploads.summary()}


def _disconnects(base: str, token: str, sessions: list[str], database: str, model: Any) -> dict[str, Any]:
    """Clients leaving after two tokens: each must leave a partial answer and no model request open."""
    import psycopg

    results, seconds = asyncio.run(_wave(base, token, sessions, leave_after=2))
    time.sleep(2)
    with psycopg.connect(database, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM chatbot_message WHERE status = 'partial'").fetchone()
    return {
        **_errors(results),
        "partial_answers_saved": int(row[0]) if row else 0,
        "model_requests_open_2s_later": model.open_requests,
        "wall_seconds": round(seconds, 2),
    }


def main() -> None:
    import psycopg

    from tests.llm_server import SlowLLMServer

    name = f"bench_streams_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    database = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    new_model = SlowLLMServer(tokens=tuple(f"w{i} " for i in range(10)) + ("nine days [1].",), delay=0.05)
    held_model = SlowLLMServer(tokens=tuple(f"w{i} " for i in range(HELD_TOKENS)), delay=TOKEN_DELAY)
    result: dict[str, Any] = {"pool_max_size": POOL, "uvicorn_workers": 1, "machine_cpus": os.cpu_count()}
    server = None
    env = _environment(database, name.replace("_", "-"), new_model.url)
    try:
        token, sessions = _prepare(env, NEW + HELD + LEAVING + 2)
        port = _free_port()
        server = _start_server(env, port)
        base = f"http://127.0.0.1:{port}"
        asyncio.run(_wave(base, token, sessions[:1]))  # warm-up: imports, the embedding model
        sessions = sessions[1:]
        with Sampler(ADMIN_URL, name, server.pid) as sampler:
            results, seconds = asyncio.run(_wave(base, token, sessions[:NEW]))
        ok = [r for r in results if r["ok"]]
        result["new_questions"] = {
            **_errors(results),
            "first_byte": _summary([r["first_byte"] for r in ok if r["first_byte"] is not None]),
            "first_token": _summary([r["tokens"][0] for r in ok if r["tokens"]]),
            "wall_seconds": round(seconds, 2),
            "answers_per_second": round(len(ok) / seconds, 2),
            "answers_per_second_per_core": round(len(ok) / seconds / (os.cpu_count() or 1), 2),
            "peak_db_connections": sampler.peak_connections,
            "peak_rss_mb": round(sampler.peak_rss_kb / 1024, 1),
        }
        print(json.dumps(result["new_questions"], indent=2), flush=True)
        # The held streams read from the slower model.
        server.terminate()
        server.wait(timeout=30)
        env["OPENAI_BASE_URL"] = held_model.url
        server = _start_server(env, port)
        asyncio.run(_wave(base, token, sessions[NEW : NEW + 1]))
        result.update(_held(base, token, sessions[NEW + 1 : NEW + 1 + HELD], env, name, server.pid))
        result["disconnects"] = _disconnects(base, token, sessions[NEW + 1 + HELD :], database, held_model)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        new_model.close()
        held_model.close()
        drop = "from search.backends import get_search_backend; get_search_backend().drop()"
        manage = [sys.executable, str(ROOT / "manage.py"), "shell", "-c", drop]
        subprocess.run(manage, env=env, cwd=ROOT, check=False)  # noqa: S603
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
