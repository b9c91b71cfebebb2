"""The SSE endpoint under ASGI, against the real answer service (extractive LLM, Elasticsearch, Redis)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import override_settings

from chatbot.api.sse import OPEN_COMMENT, PING_COMMENT
from chatbot.events import StreamEvent
from chatbot.models import ChatSession, Message
from tests.chatbot.api_helpers import AsgiResponse, asgi_request, indexed_page, isolated_index, token_user

pytestmark = pytest.mark.django_db

QUESTION = "How does the zanzibarite cache frobnicate templates?"
SECTIONS = [
    (
        "Frobnication",
        "The zanzibarite cache frobnicates templates before rendering them. "
        "Each template is frobnicated once per deployment and kept in memory. "
        "Frobnicated templates render three times faster than plain ones.",
    ),
    ("Unrelated", "Quokkas are small marsupials that live on Rottnest Island."),
]


def rag_settings(**changes: Any) -> Any:
    return override_settings(
        CHATBOT_RAG={**settings.CHATBOT_RAG, **changes},
        CHATBOT_ANSWER_CACHE={**settings.CHATBOT_ANSWER_CACHE, "ENABLED": False},
    )


@pytest.fixture
def knowledge() -> Iterator[Any]:
    with isolated_index():
        yield indexed_page("Caching guide", SECTIONS)


@pytest.fixture
def asker() -> tuple[Any, str, ChatSession]:
    account, token = token_user("asker")
    return account, token, ChatSession.objects.create(user=account)


def stream(
    session: ChatSession,
    token: str,
    question: str = QUESTION,
    *,
    body: dict[str, Any] | None = None,
    **kwargs: Any,
) -> AsgiResponse:
    path = f"/api/chatbot/sessions/{session.uuid}/messages/stream/"
    json_body = body if body is not None else {"content": question}
    return async_to_sync(asgi_request)(path, token=token, json_body=json_body, **kwargs)


def data_payloads(response: AsgiResponse) -> list[dict[str, Any]]:
    """What a client reading only the `data:` lines sees."""
    return [
        json.loads(line[len("data: ") :]) for line in response.text.split("\n") if line.startswith("data: ")
    ]


def test_answer_streams_in_several_chunks_with_increasing_ids(knowledge, asker):
    _, token, session = asker
    with rag_settings(STREAM_DELAY=0.05):
        response = stream(session, token)

    assert response.status == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.chunks[0][1] == OPEN_COMMENT, "a comment goes out before the answer is ready"

    events = response.events()
    ids = [e.id for e in events]
    assert ids == list(range(1, len(events) + 1))
    types = [e.type for e in events]
    assert types[-1] == "complete"
    tokens = [e for e in events if e.type == "token"]
    assert len(tokens) >= 2, types
    token_times = response.event_times("token")
    assert len(token_times) == len(tokens), "each token leaves in its own body message"
    assert token_times == sorted(token_times) and token_times[-1] - token_times[0] >= 0.05
    assert max(token_times) < response.event_times("complete")[0]
    assert "source" in types

    complete = events[-1].data
    assert complete["status"] == "complete"
    assert complete["content"] == "".join(e.data["content"] for e in tokens)
    assert "frobnicat" in complete["content"].lower()
    assert {s["source_id"] for s in complete["sources"]} == {knowledge.pk}
    saved = Message.objects.get(uuid=complete["message_id"])
    assert saved.role == Message.Role.ASSISTANT and saved.status == Message.Status.COMPLETE
    assert session.messages.filter(role=Message.Role.USER, content=QUESTION).exists()


def test_heartbeat_comments_while_the_answer_is_idle(knowledge, asker):
    _, token, session = asker
    with rag_settings(STREAM_DELAY=0.5), override_settings(CHATBOT_SSE_HEARTBEAT=0.1):
        response = stream(session, token)

    assert response.events()[-1].type == "complete"
    pings = response.comment_times(PING_COMMENT)
    assert len(pings) >= 3, response.blocks()
    times = [t for t, _ in response.chunks]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(gaps) < 0.1 + 0.2, f"something went out at least every heartbeat: {gaps}"


def test_client_disconnect_saves_the_partial_answer(knowledge, asker):
    _, token, session = asker

    def after_two_tokens(response: AsgiResponse) -> bool:
        return len(response.event_times("token")) >= 2

    with rag_settings(STREAM_DELAY=0.3):
        response = stream(session, token, disconnect_when=after_two_tokens)

    received = [e for e in response.events() if e.type == "token"]
    assert len(received) == 2
    assert not response.event_times("complete")
    answer = session.messages.get(role=Message.Role.ASSISTANT)
    assert answer.status == Message.Status.PARTIAL
    assert answer.content.startswith("".join(e.data["content"] for e in received).rstrip())
    assert str(answer.uuid) == received[0].data["message_id"]


def test_markup_in_question_and_answer_travels_as_json_string_data(asker):
    _, token, session = asker
    with isolated_index():
        # Titles and headings are plain text: they reach the events exactly as typed.
        indexed_page(
            "The <script>alert(1)</script> tag",
            [("Where <script> goes", "Editors embed a script tag only in raw HTML blocks.")],
        )
        with rag_settings():
            response = stream(
                session, token, question="<script>alert(2)</script> Where can editors embed a script tag?"
            )

    raw = response.text
    assert "<script" not in raw and "</script" not in raw
    for line in raw.split("\n"):
        assert not line.startswith("<"), line
        if line.startswith("data: "):
            json.loads(line[len("data: ") :])
    complete = response.events()[-1]
    assert complete.type == "complete"
    [source] = complete.data["sources"]
    assert source["title"] == "The <script>alert(1)</script> tag"
    assert source["section"] == "Where <script> goes"
    assert session.messages.filter(content__startswith="<script>alert(2)</script>").exists()


async def failing_answer(*, session: ChatSession, user: Any, question: str) -> AsyncIterator[StreamEvent]:
    """An answer that breaks after its first token (selected through CHATBOT_API_ANSWER_STREAM)."""
    yield StreamEvent(type="token", data={"content": "Partial ", "message_id": "m"})
    raise RuntimeError("the answer broke")


def test_an_exception_mid_stream_ends_it_with_an_error_event(asker):
    _, token, session = asker
    with override_settings(CHATBOT_API_ANSWER_STREAM="tests.chatbot.test_sse.failing_answer"):
        response = stream(session, token)
    events = response.events()
    assert [e.type for e in events] == ["token", "error"]
    assert [e.id for e in events] == [1, 2]
    assert events[1].data["code"] == "internal_error"
    assert "broke" not in events[1].data["message"], "internal details are not sent to the client"


def test_streaming_to_a_deleted_or_foreign_session_is_404_before_any_stream(asker):
    account, token, session = asker
    _, other_token = token_user("other")
    foreign = stream(session, other_token)
    assert foreign.status == 404
    assert foreign.headers["content-type"] == "application/json"
    assert foreign.json()["error"]["code"] == "not_found"

    session.delete()
    gone = stream(session, token)
    assert gone.status == 404
    assert gone.json()["error"]["code"] == "not_found"
    assert not Message.objects.exists()


def test_anonymous_stream_is_refused(asker):
    _, _, session = asker
    response = stream(session, token="")
    assert response.status == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_every_data_payload_names_its_type_with_the_specified_fields(knowledge, asker):
    _, token, session = asker
    with rag_settings():
        response = stream(session, token, body={"message": QUESTION, "include_sources": True})

    assert response.status == 200
    events = response.events()
    payloads = data_payloads(response)
    assert [p["type"] for p in payloads] == [e.type for e in events], "type = the event: line"
    assert all(e.raw.split("\n")[0].startswith("id: ") for e in events), "id: lines stay for resumption"
    tokens = [p for p in payloads if p["type"] == "token"]
    assert tokens and all(set(p) == {"type", "content", "message_id"} for p in tokens)
    [source] = [p for p in payloads if p["type"] == "source"]
    assert source["doc_id"] == f"page:{knowledge.pk}" and source["title"] == "Caching guide"
    assert "frobnicat" in source["excerpt"].lower()
    assert source["url"].startswith(knowledge.url) and source["anchor"] and "page_number" in source
    assert source["section_title"] == source["section"] == "Frobnication"
    assert isinstance(source["chunk_index"], int) and 0 < source["relevance_score"] <= 1
    complete = payloads[-1]
    assert complete["type"] == "complete"
    assert complete["tokens"] == complete["tokens_used"] > 0
    assert complete["response_time"] > 0
    assert Message.objects.filter(uuid=complete["message_id"], role=Message.Role.ASSISTANT).exists()
    assert complete["sources"] == [{k: v for k, v in source.items() if k != "type"}]


def test_include_sources_false_sends_no_source_events(knowledge, asker):
    _, token, session = asker
    with rag_settings():
        response = stream(session, token, body={"message": QUESTION, "include_sources": False})

    payloads = data_payloads(response)
    assert [p["type"] for p in payloads if p["type"] != "token"] == ["complete"]
    assert payloads[-1]["sources"] == []
    assert "frobnicat" in payloads[-1]["content"].lower()
    # What is saved keeps its sources: the flag is about what this response carries.
    assert Message.objects.get(uuid=payloads[-1]["message_id"]).sources


def test_errors_carry_their_type_too(asker):
    _, token, session = asker
    with override_settings(CHATBOT_API_ANSWER_STREAM="tests.chatbot.test_sse.failing_answer"):
        response = stream(session, token, body={"message": QUESTION})
    assert [p["type"] for p in data_payloads(response)] == ["token", "error"]


def test_a_question_without_message_or_content_is_refused_naming_message(asker):
    _, token, session = asker
    response = stream(session, token, body={"question": QUESTION})
    assert response.status == 400
    assert response.json()["error"]["message"] == "message: This field is required."
