"""`make run`'s own stack, as its users meet it: scripts/run.py on a fresh var folder (SQLite, the SQLite
broker file, its real Celery worker), then uploads and questions from several users at once.

No mocks and no test database: the stack is the one a new user starts. It answers 5xx never, indexes
the uploads in its worker (not in the requests), and stops within seconds on SIGINT."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = "stack-admin", "stack-pass-8c1f"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    var = tmp_path_factory.mktemp("embedded-var")
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "ELASTICSEARCH_URL",
            "CELERY_BROKER_URL",
            "DJANGO_SETTINGS_MODULE",
        }
    }
    env.update(
        DATACOLLECTION_VAR_DIR=str(var),
        DJANGO_SETTINGS_MODULE="datacollection.settings.dev",
        DJANGO_SUPERUSER_USERNAME=USER,
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        WORKER_CONCURRENCY="1",
    )
    log = (var / "run.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "scripts/run.py", "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert process.poll() is None, (var / "run.log").read_text(errors="replace")[-3000:]
        time.sleep(1)
    else:
        process.kill()
        pytest.fail(
            "the embedded stack did not become healthy in 180 s:\n" + (var / "run.log").read_text()[-3000:]
        )
    yield {"base": base, "process": process, "var": var}
    if process.poll() is None:
        process.kill()
    log.close()


@contextmanager
def _client(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=60, follow_redirects=False) as client:
        yield _logged_in(client, base)


def _logged_in(client: httpx.Client, base: str) -> httpx.Client:
    client.get("/admin/login/")
    response = client.post(
        "/admin/login/",
        data={"username": USER, "password": PASSWORD, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
        headers={"Referer": f"{base}/admin/login/"},
    )
    assert response.status_code == 302, response.text[:500]
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    client.headers["Referer"] = f"{base}/"
    return client


def test_concurrent_uploads_and_questions_get_no_5xx(stack: dict) -> None:
    base = stack["base"]
    statuses: list[int] = []

    def upload(n: int) -> int:
        with _client(base) as client:
            text = f"# Greenhouse note {n}\n\nThe orchid house number {n} is watered every Thursday.\n" * 50
            response = client.post(
                "/api/chatbot/documents/", files={"file": (f"note-{n}.txt", text.encode(), "text/plain")}
            )
            statuses.append(response.status_code)
            assert response.status_code == 201, response.text
            return int(response.json()["id"])

    def ask(n: int) -> None:
        with _client(base) as client:
            session = client.post("/api/chatbot/sessions/", json={})
            statuses.append(session.status_code)
            session_id = session.json().get("id") or session.json().get("uuid")
            for question in ("How do I restrict a page to a group?", "How do I upload a file?"):
                response = client.post(
                    f"/api/chatbot/sessions/{session_id}/messages/", json={"content": question}
                )
                statuses.append(response.status_code)

    with ThreadPoolExecutor(max_workers=6) as pool:
        uploads = [pool.submit(upload, n) for n in range(3)]
        asks = [pool.submit(ask, n) for n in range(3)]
        document_ids = [f.result() for f in uploads]
        for f in asks:
            f.result()
    assert statuses and all(s < 500 for s in statuses), statuses

    # The worker, not the request, indexes them.
    with _client(base) as client:
        deadline = time.monotonic() + 240
        pending = set(document_ids)
        while pending and time.monotonic() < deadline:
            for document_id in list(pending):
                response = client.get(f"/api/chatbot/documents/{document_id}/status/")
                assert response.status_code < 500
                if response.json().get("status") in {"indexed", "failed", "removed"}:
                    pending.discard(document_id)
            time.sleep(2)
        assert not pending, f"still not indexed after 240 s: {pending}"


def test_admin_pages_and_api_errors(stack: dict) -> None:
    with _client(stack["base"]) as client:
        assert client.get("/admin/indexing_jobs/").status_code == 200
        assert client.get("/admin/").status_code == 200
        missing = client.get("/api/chatbot/no-such-endpoint/")
        assert missing.status_code == 404
        assert missing.json()["error"]["request_id"] == missing.headers["X-Request-ID"]
        home = client.get("/")
        assert home.status_code == 200


def test_sigint_stops_everything_within_ten_seconds(stack: dict) -> None:
    process: subprocess.Popen[bytes] = stack["process"]
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.wait(timeout=15)
    elapsed = time.monotonic() - started
    assert elapsed < 10, elapsed
    leftover = subprocess.run(
        ["pgrep", "-f", str(stack["var"])], capture_output=True, text=True, check=False
    ).stdout.split()
    assert not leftover, f"processes left running: {leftover}"
