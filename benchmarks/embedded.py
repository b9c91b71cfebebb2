"""`make bench BENCH=embedded`: `make run`'s own stack under several users at once.

Starts scripts/run.py on a fresh var folder (SQLite, the SQLite broker file, its worker), measures the
time to the home page's first 200 and until the background demo import is indexed, then for DURATION
seconds has UPLOADERS users each upload FILES text files (the first one ~20 MB) while CHATTERS users ask
questions over the streaming endpoint. Writes
bench-results/embedded.json: 5xx count, first-token p50/p95, upload→indexed seconds per file, worker RSS,
demo pages indexed per minute.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = "bench-admin", "bench-pass-51ac"
DURATION = float(os.environ.get("BENCH_EMBEDDED_SECONDS", "120"))
UPLOADERS, FILES, CHATTERS = 3, 10, 5
THINK = 3.0  # seconds from one question of a chatter to the next
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


def _login(client: httpx.Client, base: str, user: str) -> None:
    client.get("/admin/login/")
    client.post(
        "/admin/login/",
        data={"username": user, "password": PASSWORD, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
        headers={"Referer": f"{base}/admin/login/"},
    )
    client.headers.update({"X-CSRFToken": client.cookies["csrftoken"], "Referer": f"{base}/"})


def _memory_mb(pattern: str) -> tuple[float, float]:
    """(PSS of all processes matching `pattern`, largest RSS of one of them) in MB. PSS shares the pages
    forked children have in common (the model loaded before the fork) instead of counting them per child."""
    argv = ["pgrep", "-f", pattern]
    out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout.split()  # noqa: S603
    pss_total, rss_max = 0, 0
    for pid in out:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss_total += int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss_max = max(rss_max, int(line.split()[1]))
        except OSError:
            continue
    return round(pss_total / 1024, 1), round(rss_max / 1024, 1)


def _stack_env(var: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL"}}
    env.update(
        DATACOLLECTION_VAR_DIR=str(var),
        DJANGO_SETTINGS_MODULE="datacollection.settings.dev",
        DJANGO_SUPERUSER_USERNAME=USER,
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
    )
    return env


def _stack_start(var: Path, port: int) -> subprocess.Popen[bytes]:
    log = (var / "run.log").open("wb")
    return subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "scripts/run.py", "--port", str(port)],
        cwd=ROOT,
        env=_stack_env(var),
        stdout=log,
        stderr=log,
    )


def _users_create(var: Path, names: list[str]) -> None:
    """One account per simulated person: the API's rate limits are per user, as they are for real."""
    code = (
        "from django.contrib.auth import get_user_model\n"
        f"for name in {names!r}:\n"
        f"    get_user_model().objects.create_superuser(name, password={PASSWORD!r})\n"
    )
    argv = [sys.executable, "manage.py", "shell", "-c", code]
    subprocess.run(argv, cwd=ROOT, env=_stack_env(var), check=True, capture_output=True)  # noqa: S603


def _first_200(base: str, *, started: float, limit: float = 300) -> float | None:
    """Seconds from `started` to the home page's first 200, None if it never came within `limit`."""
    while time.monotonic() - started < limit:
        try:
            if httpx.get(f"{base}/", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return None


def _demo_progress(var: Path) -> tuple[int, int]:
    """(pages the demo import will create, pages indexed so far), read from make run's SQLite file."""
    try:
        with sqlite3.connect(f"file:{var / 'db.sqlite3'}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute(
                "SELECT files_total FROM knowledgebase_importrun ORDER BY id DESC LIMIT 1"
            ).fetchone()
            indexed = db.execute(
                "SELECT COUNT(*) FROM knowledgebase_indexedsource WHERE source_type = 'page'"
            ).fetchone()
    except sqlite3.Error:
        return 0, 0
    return (int(row[0]) if row else 0), int(indexed[0])


def _demo_import(var: Path, *, started: float, limit: float = 900) -> dict[str, float | int | None]:
    """Wait for the background demo import to be indexed; its pages per minute since `make run` began."""
    total = indexed = 0
    while time.monotonic() - started < limit:
        total, indexed = _demo_progress(var)
        if total and indexed >= total:
            break
        time.sleep(2)
    seconds = time.monotonic() - started
    return {
        "demo_pages": total,
        "demo_pages_indexed": indexed,
        "demo_indexed_after_s": round(seconds, 1),
        "demo_pages_per_minute": round(indexed / seconds * 60, 1) if indexed else None,
    }


class _Load:
    """UPLOADERS users uploading FILES text files each and CHATTERS users asking, for DURATION seconds."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.statuses: list[int] = []
        self.first_tokens: list[float] = []
        self.indexed: list[float] = []
        self.lock = threading.Lock()
        self.stop_at = time.monotonic() + DURATION

    def _record(self, values: list[Any], value: float) -> None:
        with self.lock:
            values.append(value)

    def uploader(self, n: int) -> None:
        with httpx.Client(base_url=self.base, timeout=120) as client:
            _login(client, self.base, f"bench-uploader-{n}")
            for i in range(FILES):
                size = 20_000_000 if i == 0 else 20_000
                line = f"Bench note {n}-{i}: the greenhouse valve {n}{i} opens at dawn.\n"
                body = (line * (size // len(line) + 1)).encode()
                sent = time.monotonic()
                response = client.post(
                    "/api/chatbot/documents/", files={"file": (f"n{n}-{i}.txt", body, "text/plain")}
                )
                self._record(self.statuses, response.status_code)
                if response.status_code == 201:
                    self._indexed_wait(client, response.json()["id"], sent=sent)

    def _indexed_wait(self, client: httpx.Client, doc: int, *, sent: float) -> None:
        while time.monotonic() < self.stop_at + 600:
            state = client.get(f"/api/chatbot/documents/{doc}/status/")
            self._record(self.statuses, state.status_code)
            if state.status_code == 200 and state.json().get("status") in {"indexed", "failed"}:
                self._record(self.indexed, time.monotonic() - sent)
                return
            time.sleep(2)

    def chatter(self, n: int) -> None:
        with httpx.Client(base_url=self.base, timeout=120) as client:
            _login(client, self.base, f"bench-chatter-{n}")
            session = client.post("/api/chatbot/sessions/", json={})
            self._record(self.statuses, session.status_code)
            sid = session.json().get("id")
            i = 0
            while time.monotonic() < self.stop_at:
                asked = time.monotonic()
                self._ask(client, sid, QUESTIONS[i % len(QUESTIONS)] + f" ({n}.{i})")
                i += 1
                # A person reads the answer before the next question: at most one every THINK seconds,
                # which stays under the API's 30 questions a minute per user.
                time.sleep(max(0.0, THINK - (time.monotonic() - asked)))

    def _ask(self, client: httpx.Client, sid: str, question: str) -> None:
        asked = time.monotonic()
        url = f"/api/chatbot/sessions/{sid}/messages/stream/"
        with client.stream("POST", url, json={"message": question}) as response:
            self._record(self.statuses, response.status_code)
            got_token = False
            for line in response.iter_lines():
                if not got_token and line.startswith("data:") and '"token"' in line:
                    got_token = True
                    self._record(self.first_tokens, time.monotonic() - asked)

    def run(self, var: Path) -> dict[str, float]:
        """Run every user to the end; the worker's peak memory (all its processes, and the largest one),
        sampled every 2 s."""
        threads = [threading.Thread(target=self.uploader, args=(n,)) for n in range(UPLOADERS)]
        threads += [threading.Thread(target=self.chatter, args=(n,)) for n in range(CHATTERS)]
        for t in threads:
            t.start()
        peak_pss = peak_rss = 0.0
        while any(t.is_alive() for t in threads):
            pss, rss = _memory_mb(f"celery.*{var}")
            peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
            time.sleep(2)
        return {"peak_worker_pss_mb": peak_pss, "peak_worker_process_rss_mb": peak_rss}


def _pct(values: list[float], q: int) -> float | None:
    return round(statistics.quantiles(values, n=100)[q - 1], 3) if len(values) >= 2 else None


def main() -> int:
    var = Path(tempfile.mkdtemp(prefix="bench-embedded-"))
    port = _port()
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    stack = _stack_start(var, port)
    try:
        first_200 = _first_200(base, started=started)
        demo = _demo_import(var, started=started)
        people = [f"bench-uploader-{n}" for n in range(UPLOADERS)] + [
            f"bench-chatter-{n}" for n in range(CHATTERS)
        ]
        _users_create(var, people)
        load = _Load(base)
        memory = load.run(var)
    finally:
        stack.send_signal(signal.SIGINT)
        stack.wait(timeout=30)
    result = {
        "seconds_to_first_200": round(first_200, 1) if first_200 else None,
        **demo,
        "users": {"uploaders": UPLOADERS, "files_each": FILES, "chatters": CHATTERS, "seconds": DURATION},
        "requests": len(load.statuses),
        "http_5xx": sum(1 for s in load.statuses if s >= 500),
        "http_429": sum(1 for s in load.statuses if s == 429),
        "first_token_p50_s": _pct(load.first_tokens, 50),
        "first_token_p95_s": _pct(load.first_tokens, 95),
        "answers": len(load.first_tokens),
        "upload_to_indexed_s": sorted(round(v, 1) for v in load.indexed),
        **memory,
    }
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "embedded.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0 if result["http_5xx"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
