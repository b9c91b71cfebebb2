"""Helpers for the chatbot API tests: users with tokens, an indexed knowledge page, and a small ASGI
driver that records every body message the application sends, with its time, and can disconnect.

httpx's ASGITransport collects the whole body before returning, so it cannot show when bytes left or
simulate a client going away; this driver speaks ASGI to `datacollection.asgi.application` directly.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import patch

from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings
from rest_framework.authtoken.models import Token

from tests.factories import heading, knowledge_page, paragraph, site_home, user


def token_user(username: str, **extra: Any) -> tuple[Any, str]:
    account = user(username, **extra)
    return account, Token.objects.create(user=account).key


def chat_log_reader(username: str, **extra: Any) -> tuple[Any, str]:
    """A user with `chatbot.view_chat_logs` (what everything showing other people's questions needs)."""
    from django.contrib.auth.models import Permission

    account, key = token_user(username, **extra)
    account.user_permissions.add(
        Permission.objects.get(codename="view_chat_logs", content_type__app_label="chatbot")
    )
    return account, key


@contextmanager
def isolated_index() -> Iterator[str]:
    """A throwaway Elasticsearch index for this test (parallel test runs share the default one).

    Indexing jobs recorded meanwhile are not sent to the broker: the test runs them in this process,
    into this index. Sent, the session's Celery worker (tests/conftest.py), once started by an earlier
    test, took some of them first and wrote them to its own index, marking them indexed; the page was
    then missing here (a CI failure of tests/chatbot/test_mcp.py)."""
    from search.backends import get_search_backend

    name = f"test-api-{uuid.uuid4().hex[:10]}"
    backends = {"default": {**settings.KNOWLEDGE_SEARCH_BACKENDS["default"], "INDEX": name}}
    unsent = patch("knowledgebase.services.task_send", lambda *args, **kwargs: None)
    with override_settings(KNOWLEDGE_SEARCH_BACKENDS=backends), unsent:
        try:
            yield name
        finally:
            get_search_backend().drop()


def indexed_page(title: str, sections: list[tuple[str, str]]) -> Any:
    """A published knowledge page, indexed in-process through knowledgebase.services (no worker: the
    publish signal records the job, and the test runs it)."""
    from knowledgebase.models import IndexingJob
    from knowledgebase.services import source_sync

    body: list[Any] = []
    for section, text in sections:
        body += [heading(section), paragraph(text)]
    page = knowledge_page(site_home(), title=title, body=body)
    job = IndexingJob.objects.filter(source_type="page", source_id=page.pk).first()
    assert job is not None, "publishing should have recorded an indexing job"
    assert source_sync(job).status == IndexingJob.Status.INDEXED
    return page


# --- ASGI -----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SseEvent:
    id: int
    type: str
    data: dict[str, Any]
    raw: str


@dataclass(kw_only=True)
class AsgiResponse:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    # Every non-empty http.response.body message: (seconds since the request started, bytes).
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    complete: bool = False

    @property
    def body(self) -> bytes:
        return b"".join(chunk for _, chunk in self.chunks)

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)

    def blocks(self) -> list[str]:
        return [block for block in self.text.split("\n\n") if block]

    def events(self) -> list[SseEvent]:
        events = []
        for block in self.blocks():
            if block.startswith(":"):
                continue
            fields = dict(line.split(": ", 1) for line in block.split("\n"))
            events.append(
                SseEvent(
                    id=int(fields["id"]), type=fields["event"], data=json.loads(fields["data"]), raw=block
                )
            )
        return events

    def event_times(self, event_type: str) -> list[float]:
        """When each chunk holding an event of this type arrived."""
        marker = f"event: {event_type}\n".encode()
        return [t for t, chunk in self.chunks if marker in chunk]

    def comment_times(self, comment: bytes) -> list[float]:
        return [t for t, chunk in self.chunks if chunk == comment]


async def asgi_request(
    path: str,
    *,
    method: str = "POST",
    token: str | None = None,
    json_body: Any = None,
    disconnect_when: Callable[[AsgiResponse], bool] | None = None,
    timeout: float = 60.0,
    keep_test_connection: bool = True,
) -> AsgiResponse:
    """One request through the project's ASGI application. `disconnect_when` is checked after every body
    message; once true the client "goes away" (http.disconnect), as a closed browser tab would.
    `keep_test_connection=False` leaves Django's connection handling as a server has it (each request's
    connection returned when it finishes): for transactional tests running requests concurrently."""
    from datacollection.asgi import application

    body = json.dumps(json_body).encode() if json_body is not None else b""
    headers = [
        (b"host", b"localhost"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if token:
        headers.append((b"authorization", f"Token {token}".encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }
    response = AsgiResponse()
    gone = asyncio.Event()
    started = time.perf_counter()
    body_sent = False

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Mapping[str, Any]) -> None:
        if gone.is_set():
            return  # the peer has left: nothing more reaches it
        if message["type"] == "http.response.start":
            response.status = message["status"]
            response.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
            return
        if message.get("body"):
            response.chunks.append((time.perf_counter() - started, message["body"]))
        if not message.get("more_body", False):
            response.complete = True
        elif disconnect_when is not None and disconnect_when(response):
            gone.set()

    if not keep_test_connection:
        await asyncio.wait_for(application(scope, receive, send), timeout)
        return response
    # As Django's test client does: keep the test's database connection (and its transaction) open.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        await asyncio.wait_for(application(scope, receive, send), timeout)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return response


@contextmanager
def fresh_rate_limits() -> Iterator[None]:
    """Counters of this test only: parallel and earlier runs share the Redis database."""
    with override_settings(RATELIMIT_CACHE_PREFIX=f"rl:test:{uuid.uuid4().hex}:"):
        yield


def api_client(token: str | None = None) -> Any:
    from rest_framework.test import APIClient

    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client
