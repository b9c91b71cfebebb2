"""`make bench BENCH=embedded`: `make run`'s own stack under several users at once.

Starts scripts/run.py on a fresh var folder (SQLite, the SQLite broker file, its worker), measures the
time to the first 200 of /healthz, then for DURATION seconds has UPLOADERS users each upload FILES text
files (the first one ~20 MB) while CHATTERS users ask questions over the streaming endpoint. Writes
bench-results/embedded.json: 5xx count, first-token p50/p95, upload→indexed seconds per file, worker RSS,
demo pages indexed per minute.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = "bench-admin", "bench-pass-51ac"
DURATION = float(os.environ.get("BENCH_EMBEDDED_SECONDS", "120"))
UPLOADERS, FILES, CHATTERS = 3, 10, 5
QUESTIONS = [
    "How do I restrict a page to a group?",
    "How do I upload a file?",
    "What does the knowledge base doesn't cover this mean?",
    "How do I reindex everything?",
]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _login(client: httpx.Client, base: str) -> None:
    client.get("/admin/login/")
    client.post(
        "/admin/login/",
        data={"username": USER, "password": PASSWORD, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
        headers={"Referer": f"{base}/admin/login/"},
    )
    client.headers.update({"X-CSRFToken": client.cookies["csrftoken"], "Referer": f"{base}/"})


def _rss_mb(pattern: str) -> float:
    argv = ["pgrep", "-f", pattern]
    out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout.split()  # noqa: S603,S607
    total = 0
    for pid in out:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


def main() -> int:
    var = Path(tempfile.mkdtemp(prefix="bench-embedded-"))
    port, base = _port(), ""
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL"}}
    env.update(
        DATACOLLECTION_VAR_DIR=str(var),
        DJANGO_SETTINGS_MODULE="datacollection.settings.dev",
        DJANGO_SUPERUSER_USERNAME=USER,
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
    )
    started = time.monotonic()
    log = (var / "run.log").open("wb")
    stack = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "scripts/run.py", "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    first_200 = None
    while time.monotonic() - started < 300:
        try:
            if httpx.get(f"{base}/", timeout=2).status_code == 200:
                first_200 = time.monotonic() - started
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    statuses: list[int] = []
    first_tokens: list[float] = []
    indexed: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + DURATION

    def uploader(n: int) -> None:
        with httpx.Client(base_url=base, timeout=120) as client:
            _login(client, base)
            for i in range(FILES):
                size = 20_000_000 if i == 0 else 20_000
                line = f"Bench note {n}-{i}: the greenhouse valve {n}{i} opens at dawn.\n"
                body = (line * (size // len(line) + 1)).encode()
                sent = time.monotonic()
                response = client.post(
                    "/api/chatbot/documents/", files={"file": (f"n{n}-{i}.txt", body, "text/plain")}
                )
                with lock:
                    statuses.append(response.status_code)
                if response.status_code != 201:
                    continue
                doc = response.json()["id"]
                while time.monotonic() < stop_at + 600:
                    state = client.get(f"/api/chatbot/documents/{doc}/status/")
                    with lock:
                        statuses.append(state.status_code)
                    if state.json().get("status") in {"indexed", "failed"}:
                        with lock:
                            indexed.append(time.monotonic() - sent)
                        break
                    time.sleep(2)

    def chatter(n: int) -> None:
        with httpx.Client(base_url=base, timeout=120) as client:
            _login(client, base)
            session = client.post("/api/chatbot/sessions/", json={})
            statuses.append(session.status_code)
            sid = session.json().get("id")
            i = 0
            while time.monotonic() < stop_at:
                asked = time.monotonic()
                got_token = False
                with client.stream(
                    "POST",
                    f"/api/chatbot/sessions/{sid}/messages/stream/",
                    json={"message": QUESTIONS[i % len(QUESTIONS)] + f" ({n}.{i})"},
                ) as response:
                    with lock:
                        statuses.append(response.status_code)
                    for line in response.iter_lines():
                        if not got_token and line.startswith("data:") and '"token"' in line:
                            got_token = True
                            with lock:
                                first_tokens.append(time.monotonic() - asked)
                i += 1

    threads = [threading.Thread(target=uploader, args=(n,)) for n in range(UPLOADERS)]
    threads += [threading.Thread(target=chatter, args=(n,)) for n in range(CHATTERS)]
    for t in threads:
        t.start()
    peak_worker_rss = 0.0
    while any(t.is_alive() for t in threads):
        peak_worker_rss = max(peak_worker_rss, _rss_mb(f"celery.*{var}"))
        time.sleep(2)

    def pct(values: list[float], q: float) -> float | None:
        return round(statistics.quantiles(values, n=100)[int(q) - 1], 3) if len(values) >= 2 else None

    result = {
        "seconds_to_first_200": round(first_200, 1) if first_200 else None,
        "requests": len(statuses),
        "http_5xx": sum(1 for s in statuses if s >= 500),
        "first_token_p50_s": pct(first_tokens, 50),
        "first_token_p95_s": pct(first_tokens, 95),
        "answers": len(first_tokens),
        "upload_to_indexed_s": sorted(round(v, 1) for v in indexed),
        "peak_worker_rss_mb": peak_worker_rss,
    }
    stack.send_signal(signal.SIGINT)
    stack.wait(timeout=30)
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "embedded.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0 if result["http_5xx"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
