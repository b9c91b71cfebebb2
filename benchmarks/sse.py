"""SSE under one uvicorn worker: time to first byte, and many concurrent streams with steady heartbeats.

    .venv/bin/python -m benchmarks.sse            # 200 streams held 20 s, heartbeat 1 s
    SSE_BENCH_STREAMS=500 SSE_BENCH_HOLD=30 .venv/bin/python -m benchmarks.sse

Starts uvicorn (one worker, loopback, a throwaway SQLite database) with `CHATBOT_API_ANSWER_STREAM`
pointing at `slow_answer` below: an answer that stays silent for a while (as a slow retrieval or model
would) and then completes. Requests go through the real stack: token authentication, session lookup,
question validation, the rate limiter, then the SSE response. Writes bench-results/sse.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results" / "sse.json"
STREAMS = int(os.environ.get("SSE_BENCH_STREAMS", "200"))
HOLD = float(os.environ.get("SSE_BENCH_HOLD", "20"))  # seconds each concurrent stream stays idle
HEARTBEAT = float(os.environ.get("SSE_BENCH_HEARTBEAT", "1.0"))
TTFB_REQUESTS = int(os.environ.get("SSE_BENCH_TTFB_REQUESTS", "30"))
TTFB_ANSWER_DELAY = 2.0  # the fake answer's silence before its first event in the TTFB phase


async def slow_answer(*, session: Any, user: Any, question: str) -> AsyncIterator[Any]:
    """The answer function the benchmark's server uses: silent for a while, then one token and complete.
    A question "hold <seconds>" sets the silence."""
    from chatbot.events import StreamEvent

    delay = float(question.split()[1]) if question.startswith("hold ") else TTFB_ANSWER_DELAY
    await asyncio.sleep(delay)
    yield StreamEvent(type="token", data={"content": "Done.", "message_id": "bench"})
    yield StreamEvent(
        type="complete",
        data={"message_id": "bench", "content": "Done.", "sources": [], "status": "complete"},
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "ELASTICSEARCH_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="datacollection.settings.dev",
        DEBUG="0",
        SECRET_KEY="sse-benchmark-only",  # noqa: S106 - a throwaway server on loopback
        DATABASE_URL=f"sqlite:///{tmp / 'bench.sqlite3'}",
        DATACOLLECTION_VAR_DIR=str(tmp),
        CELERY_BROKER_URL="",
        CHATBOT_API_ANSWER_STREAM="benchmarks.sse.slow_answer",
        CHATBOT_SSE_HEARTBEAT=str(HEARTBEAT),
        CHATBOT_RATE_MESSAGES="1000000/m",
        LOG_LEVEL="WARNING",
    )
    return env


_FIXTURE = """
from chatbot.models import ChatSession
from datacollection.models import User
from rest_framework.authtoken.models import Token
user = User.objects.create_user(username="bench", password="bench-pw")
session = ChatSession.objects.create(user=user)
print(Token.objects.create(user=user).key, session.uuid)
"""


def _prepare(env: dict[str, str]) -> tuple[str, str]:
    manage = [sys.executable, str(ROOT / "manage.py")]
    # Our own interpreter and manage.py with fixed arguments.
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)  # noqa: S603
    out = subprocess.run(  # noqa: S603
        [*manage, "shell", "-c", _FIXTURE], env=env, cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    return out[-2], out[-1]


def _start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "datacollection.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--lifespan",
        "off",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, env=env, cwd=ROOT)  # noqa: S603 - fixed arguments
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("uvicorn did not start")


def _proc_status(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in {"VmRSS", "Threads"}:
            fields[key] = int(value.split()[0])
    return {"rss_kb": fields.get("VmRSS", 0), "threads": fields.get("Threads", 0)}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "n": len(values),
        "min_ms": round(min(values) * 1000, 1),
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "p95_ms": round(_percentile(values, 0.95) * 1000, 1),
        "p99_ms": round(_percentile(values, 0.99) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


async def _first_byte(client: Any, url: str, token: str) -> float:
    """Seconds from sending the request to the first body byte; then the client goes away."""
    started = time.perf_counter()
    headers = {"Authorization": f"Token {token}", "Accept": "text/event-stream"}
    async with client.stream("POST", url, json={"content": "first byte?"}, headers=headers) as response:
        if response.status_code != 200:
            raise RuntimeError(f"stream answered {response.status_code}")
        async for _ in response.aiter_raw():
            return time.perf_counter() - started
    raise RuntimeError("empty stream")


async def _held_stream(client: Any, url: str, token: str) -> dict[str, Any]:
    started = time.perf_counter()
    arrivals: list[float] = []
    body = b""
    headers = {"Authorization": f"Token {token}", "Accept": "text/event-stream"}
    try:
        async with client.stream("POST", url, json={"content": f"hold {HOLD}"}, headers=headers) as response:
            status = response.status_code
            async for chunk in response.aiter_raw():
                arrivals.append(time.perf_counter() - started)
                body += chunk
    except Exception as e:  # noqa: BLE001 - a failed stream is a result to report, not a crash
        return {"ok": False, "error": f"{type(e).__name__}: {e}", "arrivals": arrivals}
    return {
        "ok": status == 200 and b"event: complete" in body,
        "status": status,
        "arrivals": arrivals,
        "pings": body.count(b": ping\n\n"),
    }


async def _measure(base: str, token: str, session: str, pid: int) -> dict[str, Any]:
    import httpx

    url = f"{base}/api/chatbot/sessions/{session}/messages/stream/"
    limits = httpx.Limits(max_connections=STREAMS + 50, max_keepalive_connections=0)
    timeout = httpx.Timeout(HOLD + 60, connect=30)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        await _first_byte(client, url, token)  # warm-up: imports, first queries
        idle = [await _first_byte(client, url, token) for _ in range(TTFB_REQUESTS)]
        before = _proc_status(pid)

        held = [asyncio.create_task(_held_stream(client, url, token)) for _ in range(STREAMS)]
        await asyncio.sleep(min(5.0, HOLD / 2))
        under_load = [await _first_byte(client, url, token) for _ in range(10)]
        during = _proc_status(pid)
        results = await asyncio.gather(*held)

    ok = [r for r in results if r["ok"]]
    first = [r["arrivals"][0] for r in ok if r["arrivals"]]
    gaps: list[float] = []
    for r in ok:
        times = r["arrivals"]
        # Between the opening comment and the answer's first event only heartbeats are sent.
        gaps += [b - a for a, b in zip(times[:-1], times[1:-1], strict=False)]
    return {
        "streams": STREAMS,
        "hold_seconds": HOLD,
        "heartbeat_seconds": HEARTBEAT,
        "completed": len(ok),
        "failed": [r.get("error") or r.get("status") for r in results if not r["ok"]][:5],
        "time_to_first_byte_idle": _summary(idle),
        "time_to_first_byte_while_streams_open": _summary(under_load),
        "first_byte_of_concurrent_streams": _summary(first),
        "heartbeat_gaps": _summary(gaps),
        "pings_per_stream_min": min((r["pings"] for r in ok), default=0),
        "server_before": before,
        "server_with_streams_open": during,
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="sse-bench-") as directory:
        env = _server_env(Path(directory))
        token, session = _prepare(env)
        port = _free_port()
        server = _start_server(env, port)
        try:
            result = asyncio.run(_measure(f"http://127.0.0.1:{port}", token, session, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=30)
    result["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
