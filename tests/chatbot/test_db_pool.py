"""Database connections under concurrent requests (issue 19, item 5): a bounded pool, a 503
`database_busy` with Retry-After when it stays empty (never a 500), no connection held across a stream,
and clients leaving mid-stream.

The requests run in-process through the ASGI application on an event loop in a thread of its own, as
uvicorn runs it: each request's sync code gets its own thread and so its own connection, which is what
the pool bounds. The pool is the real psycopg-pool one, set up on the test database for each test."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.db import connection, connections
from django.test import override_settings

from chatbot.models import ChatSession, Message
from tests.chatbot.api_helpers import (
    AsgiResponse,
    asgi_request,
    fresh_rate_limits,
    indexed_page,
    isolated_index,
    token_user,
)
from tests.llm_server import SlowLLMServer

pytestmark = pytest.mark.django_db(transaction=True)

T = TypeVar("T")
QUESTION = "How long does the zanzibarite cache keep a template?"
SECTIONS = [
    ("Frobnication", "The zanzibarite cache keeps each template for nine days before rendering it again."),
    ("Unrelated", "Quokkas are small marsupials that live on Rottnest Island."),
]
TOKENS = tuple(f"Word{i} " for i in range(8)) + ("nine days [1].",)


@contextmanager
def pool(max_size: int, timeout: float) -> Iterator[None]:
    """Django's PostgreSQL pool (what DB_POOL_MAX_SIZE / DB_POOL_TIMEOUT configure) on the test database.
    Every thread's connection shares this settings dict, so they all draw from the one pool."""
    database = connection.settings_dict
    saved_age = database["CONN_MAX_AGE"]
    connection.close()
    database["CONN_MAX_AGE"] = 0
    database["OPTIONS"]["pool"] = {"min_size": 0, "max_size": max_size, "timeout": timeout}
    try:
        yield
    finally:
        connection.close()
        connection.close_pool()  # type: ignore[attr-defined]  # PostgreSQL's wrapper
        del database["OPTIONS"]["pool"]
        database["CONN_MAX_AGE"] = saved_age


def in_server_loop(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on a fresh event loop in a new thread (no sync caller above it), as a server does."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(lambda: asyncio.run(make())).result()


async def together(*requests: Coroutine[Any, Any, AsgiResponse]) -> list[AsgiResponse]:
    return list(await asyncio.gather(*requests))


def request(path: str, **kwargs: Any) -> Coroutine[Any, Any, AsgiResponse]:
    return asgi_request(path, keep_test_connection=False, timeout=60, **kwargs)


@contextmanager
def held_connection() -> Iterator[None]:
    """Another thread keeps one connection checked out of the pool until the block ends."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        connections["default"].ensure_connection()
        taken.set()
        release.wait(30)
        connections["default"].close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert taken.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join()


@pytest.fixture
def model() -> Iterator[SlowLLMServer]:
    """A slow model (a token every 0.25 s) behind the default alias, and a page to retrieve."""
    server = SlowLLMServer(tokens=TOKENS, delay=0.25)
    llms = {
        "default": {
            "BACKEND": "chatbot.llm.openai",
            "BASE_URL": server.url,
            "MODEL": "m",
            "TIMEOUT": 30.0,
            "MAX_RETRIES": 0,
        }
    }
    with isolated_index():
        indexed_page("Caching guide", SECTIONS)
        with (
            override_settings(
                CHATBOT_LLM_BACKENDS=llms,
                CHATBOT_ANSWER_CACHE={**settings.CHATBOT_ANSWER_CACHE, "ENABLED": False},
            ),
            fresh_rate_limits(),
        ):
            yield server
    server.close()


def askers(count: int) -> list[tuple[str, str]]:
    """(token, stream path) of `count` users with a session each."""
    result = []
    for i in range(count):
        account, token = token_user(f"asker-{i}")
        session = ChatSession.objects.create(user=account)
        result.append((token, f"/api/chatbot/sessions/{session.uuid}/messages/stream/"))
    return result


def test_an_empty_pool_is_503_database_busy_with_retry_after_never_500() -> None:
    ((token, stream_path),) = askers(1)
    with pool(max_size=1, timeout=0.5), fresh_rate_limits():
        with held_connection():
            api, stream, page = in_server_loop(
                lambda: together(
                    request("/api/chatbot/sessions/", method="GET", token=token),
                    request(stream_path, token=token, json_body={"content": QUESTION}),
                    request("/", method="GET"),
                )
            )
        after = in_server_loop(lambda: request("/api/chatbot/sessions/", method="GET", token=token))

    for response in (api, stream):
        assert response.status == 503, response.text
        assert response.json()["error"]["code"] == "database_busy"
        assert response.headers["retry-after"] == "2"
    assert stream.headers["content-type"] == "application/json"  # refused before the stream opened
    assert page.status == 503 and page.headers["retry-after"] == "2"
    assert "busy" in page.text and page.headers["content-type"].startswith("text/plain")
    # The connection came back: the same request is served.
    assert after.status == 200, after.text


def test_more_streams_than_connections_all_complete(model: SlowLLMServer) -> None:
    """Pool of 2, 7 streams at once, each taking over 2 s of model tokens: were a connection held across
    a stream, the third request would wait past the 2 s timeout and get 503."""
    paths = askers(7)
    with pool(max_size=2, timeout=2.0):
        responses = in_server_loop(
            lambda: together(
                *(request(path, token=token, json_body={"content": QUESTION}) for token, path in paths)
            )
        )
    for response in responses:
        assert response.status == 200, response.text
        assert response.events()[-1].type == "complete", response.text
    assert model.requests == 7
    assert Message.objects.filter(role=Message.Role.ASSISTANT, status=Message.Status.COMPLETE).count() == 7


def test_clients_leaving_mid_stream_leave_partial_answers_and_no_model_request_open(
    model: SlowLLMServer,
) -> None:
    leaving = 20
    paths = askers(leaving)

    def after_two_tokens(response: AsgiResponse) -> bool:
        return len(response.event_times("token")) >= 2

    with pool(max_size=3, timeout=5.0):
        responses = in_server_loop(
            lambda: together(
                *(
                    request(
                        path, token=token, json_body={"content": QUESTION}, disconnect_when=after_two_tokens
                    )
                    for token, path in paths
                )
            )
        )
        time.sleep(2)
        open_after = model.open_requests

    assert all(r.status == 200 and not r.event_times("complete") for r in responses)
    assert model.requests == leaving
    assert open_after == 0
    partial = Message.objects.filter(role=Message.Role.ASSISTANT, status=Message.Status.PARTIAL)
    assert partial.count() == leaving
    assert all(m.content.startswith("Word0") for m in partial)


def test_answers_retrieve_at_most_concurrent_work_at_once(
    model: SlowLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The work gate (chatbot.rag.pipeline.work_gate): six questions at once with CONCURRENT_WORK 2 never
    have more than two retrievals running, and all six are answered."""
    from chatbot.rag import pipeline

    lock, running, peak = threading.Lock(), [0], [0]
    retrieve = pipeline.retrieve_checked

    def counted(run: Any) -> Any:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.3)  # long enough for every request to have reached retrieval without a gate
            return retrieve(run)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(pipeline, "retrieve_checked", counted)
    paths = askers(6)
    with override_settings(CHATBOT_RAG={**settings.CHATBOT_RAG, "CONCURRENT_WORK": 2}):
        responses = in_server_loop(
            lambda: together(
                *(request(path, token=token, json_body={"content": QUESTION}) for token, path in paths)
            )
        )
    assert [r.events()[-1].type for r in responses] == ["complete"] * 6
    assert peak[0] == 2


def test_open_streams_wait_for_their_database_steps_instead_of_failing(
    model: SlowLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """datacollection.db.db_step: a pool of 2 with a 2 s timeout, ten streams whose question save holds
    its connection 0.6 s. In the pool the last saves would wait 2.4 s and end their open streams with
    database_busy; behind the step gate (one of the two connections) they wait in the event loop."""
    from chatbot import services

    save = services._question_save

    def slow_save(*args: Any) -> Any:
        result = save(*args)
        time.sleep(0.6)  # still inside the step: the connection is returned after it
        return result

    monkeypatch.setattr(services, "_question_save", slow_save)
    paths = askers(10)
    with pool(max_size=2, timeout=2.0):
        responses = in_server_loop(
            lambda: together(
                *(request(path, token=token, json_body={"content": QUESTION}) for token, path in paths)
            )
        )
    assert [r.status for r in responses] == [200] * 10
    assert [r.events()[-1].type for r in responses] == ["complete"] * 10, [r.text[-200:] for r in responses]
