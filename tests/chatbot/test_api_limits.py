"""Refusals before any work: invalid questions, rate limits, and a rate limiter that cannot reach Redis."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache
from django.test import RequestFactory, override_settings
from django_ratelimit.core import _get_window

from chatbot.api.ratelimit import MESSAGES, rate_limit_hit
from chatbot.models import ChatSession, Message
from tests.chatbot.api_helpers import (
    api_client,
    asgi_request,
    fresh_rate_limits,
    indexed_page,
    isolated_index,
    token_user,
)

pytestmark = pytest.mark.django_db

API = "/api/chatbot"


class ConnectionCounter:
    """A loopback TCP port that never answers: the LLM endpoint, so any call to the model shows up as a
    connection (the kernel completes the handshake into the backlog)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def connections(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def llm_endpoint() -> Iterator[ConnectionCounter]:
    counter = ConnectionCounter()
    llm = {
        **settings.CHATBOT_LLM_BACKENDS["default"],
        "BACKEND": "chatbot.llm.openai",
        "BASE_URL": counter.url,
        "MODEL": "counting",
        "TIMEOUT": 0.5,
        "MAX_RETRIES": 0,
    }
    rag = {**settings.CHATBOT_RAG, "CONDENSE_WITH_LLM": False}
    no_cache = {**settings.CHATBOT_ANSWER_CACHE, "ENABLED": False}
    with override_settings(
        CHATBOT_LLM_BACKENDS={"default": llm}, CHATBOT_RAG=rag, CHATBOT_ANSWER_CACHE=no_cache
    ):
        yield counter
    counter.close()


@pytest.fixture(autouse=True)
def _fresh_limits() -> Iterator[None]:
    with fresh_rate_limits():
        yield


@pytest.fixture
def asker() -> tuple[Any, str, ChatSession]:
    account, token = token_user("asker")
    return account, token, ChatSession.objects.create(user=account)


def send(token: str, session: ChatSession, content: str) -> Any:
    return api_client(token).post(
        f"{API}/sessions/{session.uuid}/messages/", {"content": content}, format="json"
    )


def stream(token: str, session: ChatSession, content: str) -> Any:
    path = f"{API}/sessions/{session.uuid}/messages/stream/"
    return async_to_sync(asgi_request)(path, token=token, json_body={"content": content})


def test_empty_and_oversized_questions_are_refused_without_calling_the_model(asker, llm_endpoint):
    _, token, session = asker
    limit = settings.CHAT_MAX_QUESTION_CHARS
    with isolated_index():
        indexed_page("Otters", [("Rafts", "Sea otters hold hands in rafts while they sleep.")])

        for response in (send(token, session, "   "), stream(token, session, "\n\t ")):
            status = getattr(response, "status_code", None) or response.status
            body = response.json()
            assert status == 400, body
            assert body["error"]["code"] == "empty"
        for response in (send(token, session, "x" * (limit + 1)), stream(token, session, "y" * (limit + 1))):
            status = getattr(response, "status_code", None) or response.status
            body = response.json()
            assert status == 413, body
            assert body["error"]["code"] == "too_long"
            assert f"{limit:,}" in body["error"]["message"]
        assert llm_endpoint.connections() == 0
        assert not Message.objects.exists(), "nothing is saved for a refused question"

        # The control: a valid question does reach the (silent) model, and fails visibly.
        answered = send(token, session, "How do sea otters sleep in rafts?")
    assert answered.status_code == 201
    assert answered.json()["status"] == "error"
    assert llm_endpoint.connections() >= 1


def _user_with_a_fresh_window(name: str) -> tuple[Any, str]:
    """django-ratelimit counts in fixed windows, staggered per key by a hash of it: of a few new users,
    one starts with at least 30 s of its window left, so the burst starts well inside one without
    waiting for the next (the wait cost this test 15 s on average)."""
    for attempt in range(20):
        account, token = token_user(f"{name}-{attempt}")
        if _get_window(f"user:{account.pk}", 60) - time.time() >= 30:
            return account, token
    raise AssertionError("twenty users in a row started in the last half of their window")


def test_the_31st_message_in_a_minute_is_429_with_retry_after():
    other, other_token = token_user("other")
    other_session = ChatSession.objects.create(user=other)
    with isolated_index():  # empty: each question is declined quickly by the real service
        # Warm up (models, connections) as another user, so the burst below fits in one window.
        assert send(other_token, other_session, "Warm up?").status_code == 201
        for attempt in range(3):
            account, token = _user_with_a_fresh_window(f"burst-{attempt}")
            window = _get_window(f"user:{account.pk}", 60)
            session = ChatSession.objects.create(user=account)
            # Most of the minute's budget is spent through the limiter itself (the same counter the
            # views use), so the burst through the API is short.
            spend = RequestFactory().post("/")
            spend.user = account
            # Counters of this attempt only: the tail of a straddling attempt lands in the next window.
            with fresh_rate_limits():
                for _ in range(27):
                    rate_limit_hit(spend, group=MESSAGES)
                for i in range(27, 29):
                    assert send(token, session, f"Question {i}?").status_code == 201
                assert stream(token, session, "Question 29, streamed?").status == 200, "streams share it"
                refused = send(token, session, "Question 30?")
                refused_stream = stream(token, session, "Question 31, streamed?")
            # A burst that a loaded machine stretched over a window boundary counted in two windows:
            # measure again in the next one instead of reading it as a limiter that let one through.
            if _get_window(f"user:{account.pk}", 60) == window:
                break

    assert refused.status_code == 429
    retry_after = int(refused["Retry-After"])
    assert 1 <= retry_after <= 60
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.json()["error"]["retry_after"] == retry_after
    assert refused_stream.status == 429
    assert refused_stream.headers["content-type"] == "application/json"
    assert session.messages.filter(role=Message.Role.USER).count() == 3

    with isolated_index():
        assert send(other_token, other_session, "Mine?").status_code == 201, "the limit is per user"


def test_rate_limiter_without_redis_fails_closed(asker):
    _, token, session = asker
    dead = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
    with override_settings(CACHES={**settings.CACHES, "dead": dead}, RATELIMIT_USE_CACHE="dead"):
        refused = send(token, session, "Is anyone counting?")
        refused_stream = stream(token, session, "Is anyone counting now?")
        upload = api_client(token).post(f"{API}/documents/", {"title": "x"}, format="multipart")
    for status, body in (
        (refused.status_code, refused.json()),
        (refused_stream.status, refused_stream.json()),
        (upload.status_code, upload.json()),
    ):
        assert status == 503
        assert body["error"]["code"] == "rate_limiter_unavailable"
        assert "rate limiter is unavailable" in body["error"]["message"]
    assert refused["Retry-After"]
    assert not Message.objects.exists()


class CounterExpiringAfterAdd(FileBasedCache):
    """The file cache of `make run`, with the window's counter expiring right after django-ratelimit's
    `add` found it, as it does at a window boundary: its `incr` then finds no key."""

    expirations = 0

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        added = super().add(key, value, timeout, version)
        if not added and CounterExpiringAfterAdd.expirations:
            CounterExpiringAfterAdd.expirations -= 1
            self.delete(key, version=version)
        return bool(added)


def test_a_window_rolling_over_between_add_and_incr_counts_in_the_new_window(tmp_path, django_user_model):
    files = {"BACKEND": f"{__name__}.CounterExpiringAfterAdd", "LOCATION": str(tmp_path)}
    request = RequestFactory().post("/")
    request.user = django_user_model.objects.create_user("rollover")
    with override_settings(CACHES={**settings.CACHES, "files": files}, RATELIMIT_USE_CACHE="files"):
        rate_limit_hit(request, group=MESSAGES)  # starts the window's counter
        CounterExpiringAfterAdd.expirations = 1
        rate_limit_hit(request, group=MESSAGES)  # was a 503 "rate limiter unavailable"
    assert CounterExpiringAfterAdd.expirations == 0, "the counter did expire between add and incr"
