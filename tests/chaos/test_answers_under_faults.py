"""What a user sees while the engines misbehave: Elasticsearch and the LLM server reached through TCP fault
proxies that add 2 s of latency or reset every connection. Slow engines give a slow answer; resetting ones
give a clear error (the saved answer's error code and message, or an `error` event ending the stream),
never a 500, and the next
question after they recover is answered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import override_settings

from chatbot.models import ChatSession, Message
from tests.chatbot.api_helpers import (
    asgi_request,
    fresh_rate_limits,
    indexed_page,
    isolated_index,
    token_user,
)
from tests.llm_server import HostileLLMServer
from tests.services import TcpProxy

pytestmark = [pytest.mark.chaos, pytest.mark.django_db]

QUESTION = "How long does the zanzibarite cache keep a template?"
SECTIONS = [
    ("Frobnication", "The zanzibarite cache keeps each template for nine days before rendering it again."),
    ("Unrelated", "Quokkas are small marsupials that live on Rottnest Island."),
]


@pytest.fixture
def faults() -> Iterator[dict[str, TcpProxy]]:
    """Retrieval through one proxy, an OpenAI-compatible model server through another."""
    model = HostileLLMServer(leak_origin="http://127.0.0.2:9")
    target = urlsplit(settings.ELASTICSEARCH_URL)
    search = TcpProxy(target_host=target.hostname or "127.0.0.1", target_port=target.port or 9200).start()
    llm = TcpProxy(target_host="127.0.0.1", target_port=int(urlsplit(model.url).port or 0)).start()
    with isolated_index() as index:
        indexed_page("Caching guide", SECTIONS)
        backends = {
            "default": {**settings.KNOWLEDGE_SEARCH_BACKENDS["default"], "INDEX": index, "URLS": [search.url]}
        }
        llms = {
            "default": {
                "BACKEND": "chatbot.llm.openai",
                "BASE_URL": f"{llm.url}/v1",
                "MODEL": "m",
                "TIMEOUT": 10.0,
                "MAX_RETRIES": 1,
            }
        }
        with (
            override_settings(
                KNOWLEDGE_SEARCH_BACKENDS=backends,
                CHATBOT_LLM_BACKENDS=llms,
                CHATBOT_ANSWER_CACHE={**settings.CHATBOT_ANSWER_CACHE, "ENABLED": False},
            ),
            fresh_rate_limits(),
        ):
            yield {"search": search, "llm": llm}
    search.close()
    llm.close()
    model.close()


def _ask(stream: bool) -> Any:
    account, token = token_user(f"asker-{ChatSession.objects.count()}")
    session = ChatSession.objects.create(user=account)
    path = f"/api/chatbot/sessions/{session.uuid}/messages/" + ("stream/" if stream else "")
    response = async_to_sync(asgi_request)(path, token=token, json_body={"content": QUESTION}, timeout=90)
    return response, session


def _answered(stream: bool) -> None:
    response, session = _ask(stream)
    assert response.status == (200 if stream else 201), response.text
    if stream:
        assert [e.type for e in response.events()][-1] == "complete", response.text
    reply = session.messages.get(role=Message.Role.ASSISTANT)
    assert reply.status == Message.Status.COMPLETE and "Nothing unusual here" in reply.content


def _refused(stream: bool, code: str) -> None:
    response, session = _ask(stream)
    if stream:
        assert response.status == 200
        events = response.events()
        assert events[-1].type == "error" and events[-1].data["code"] == code, response.text
    else:
        # The message endpoint saves the failed answer and returns it, as the API specifies: 201 with
        # the status, the code and the message a person reads.
        assert response.status == 201, response.text
        reply = response.json()
        assert (reply["status"], reply["error_code"]) == ("error", code), reply
        assert "try again" in reply["error"].lower()
    assert session.messages.get(role=Message.Role.ASSISTANT).status == Message.Status.ERROR


@pytest.mark.parametrize("stream", [False, True], ids=["rest", "sse"])
def test_slow_engines_answer_slowly(faults: dict[str, TcpProxy], stream: bool) -> None:
    faults["search"].latency = 2.0
    faults["llm"].latency = 2.0
    _answered(stream)


@pytest.mark.parametrize("stream", [False, True], ids=["rest", "sse"])
def test_a_resetting_search_engine_is_a_clear_error_then_recovers(
    faults: dict[str, TcpProxy], stream: bool
) -> None:
    faults["search"].reset_connections()
    _refused(stream, "search_unavailable")
    faults["search"].heal()
    _answered(stream)


@pytest.mark.parametrize("stream", [False, True], ids=["rest", "sse"])
def test_a_resetting_model_server_is_a_clear_error_then_recovers(
    faults: dict[str, TcpProxy], stream: bool
) -> None:
    faults["llm"].reset_connections()
    _refused(stream, "llm_unavailable")
    faults["llm"].heal()
    _answered(stream)
