"""Sessions, messages, feedback and analytics over REST, against the real answer service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from chatbot.models import ChatSession, Message, MessageFeedback
from knowledgebase.models import KnowledgeDocument
from tests.chatbot.api_helpers import api_client, fresh_rate_limits, indexed_page, isolated_index, token_user
from tests.factories import user

pytestmark = pytest.mark.django_db

API = "/api/chatbot"


@pytest.fixture(autouse=True)
def _isolated() -> Iterator[None]:
    no_cache = {**settings.CHATBOT_ANSWER_CACHE, "ENABLED": False}
    with fresh_rate_limits(), override_settings(CHATBOT_ANSWER_CACHE=no_cache):
        yield


@pytest.fixture
def alice() -> tuple[Any, APIClient]:
    account, token = token_user("alice")
    return account, api_client(token)


@pytest.fixture
def bob() -> tuple[Any, APIClient]:
    account, token = token_user("bob")
    return account, api_client(token)


def error(response: Any) -> dict[str, Any]:
    return response.json()["error"]


def test_sessions_are_created_listed_updated_and_deleted_by_their_owner(alice):
    account, client = alice
    created = client.post(f"{API}/sessions/", {"title": "Caching"}, format="json")
    assert created.status_code == 201
    session_uuid = created.json()["uuid"]
    assert ChatSession.objects.get(uuid=session_uuid).user == account

    listed = client.get(f"{API}/sessions/").json()
    assert listed["count"] == 1 and listed["results"][0]["uuid"] == session_uuid

    changed = client.patch(f"{API}/sessions/{session_uuid}/", {"title": "Renamed", "is_active": False})
    assert changed.status_code == 200
    assert changed.json()["title"] == "Renamed" and changed.json()["is_active"] is False

    assert client.delete(f"{API}/sessions/{session_uuid}/").status_code == 204
    assert not ChatSession.objects.filter(uuid=session_uuid).exists()


def test_session_list_is_paginated(alice):
    account, client = alice
    ChatSession.objects.bulk_create(ChatSession(user=account, title=f"s{i}") for i in range(7))
    page = client.get(f"{API}/sessions/", {"page_size": 5}).json()
    assert page["count"] == 7 and len(page["results"]) == 5 and page["next"]


def test_scope_accepts_visible_sources_and_own_documents_only(alice, bob):
    account, client = alice
    other, _ = bob
    with isolated_index():
        page = indexed_page("Scoped page", [("Scope", "Scoped content about hedgehogs.")])
    own = KnowledgeDocument.objects.create(title="Mine", file="knowledge/mine.txt", owner=account, live=False)
    foreign = KnowledgeDocument.objects.create(
        title="Theirs", file="knowledge/theirs.txt", owner=other, audience="private", live=True
    )
    session = client.post(f"{API}/sessions/", {}, format="json").json()["uuid"]

    ok = client.patch(
        f"{API}/sessions/{session}/", {"scope": [f"page:{page.pk}", f"document:{own.pk}"]}, format="json"
    )
    assert ok.status_code == 200, ok.json()
    assert ok.json()["scope"] == [f"page:{page.pk}", f"document:{own.pk}"]

    for bad in ([f"document:{foreign.pk}"], ["page:999999"], ["nonsense"]):
        refused = client.patch(f"{API}/sessions/{session}/", {"scope": bad}, format="json")
        assert refused.status_code == 400, bad
        assert error(refused)["code"] == "invalid"
        assert "scope" in error(refused)["fields"]
    # A hidden document and a missing page read the same: existence is not revealed.
    hidden = client.patch(f"{API}/sessions/{session}/", {"scope": [f"document:{foreign.pk}"]}, format="json")
    assert error(hidden)["message"] == f"scope: Unknown sources: document:{foreign.pk}."


def test_another_users_sessions_messages_and_feedback_are_404(alice, bob):
    _, alice_client = alice
    bob_account, bob_client = bob
    session = ChatSession.objects.create(user=bob_account, title="Bob's")
    answer = Message.objects.create(session=session, role=Message.Role.ASSISTANT, content="Secret answer")
    base = f"{API}/sessions/{session.uuid}"

    assert alice_client.get(f"{API}/sessions/").json()["count"] == 0
    for response in (
        alice_client.get(f"{base}/"),
        alice_client.patch(f"{base}/", {"title": "Hijacked"}, format="json"),
        alice_client.delete(f"{base}/"),
        alice_client.get(f"{base}/messages/"),
        alice_client.post(f"{base}/messages/", {"content": "Hi"}, format="json"),
        alice_client.post(f"{API}/messages/{answer.uuid}/feedback/", {"rating": "up"}, format="json"),
    ):
        assert response.status_code == 404
        assert error(response)["code"] == "not_found"
    session.refresh_from_db()
    assert session.title == "Bob's" and session.messages.count() == 1
    assert bob_client.get(f"{base}/messages/").json()["count"] == 1


def test_sending_a_question_returns_the_saved_answer_with_sources(alice):
    _, client = alice
    session = client.post(f"{API}/sessions/", {}, format="json").json()["uuid"]
    with isolated_index():
        page = indexed_page(
            "Backups",
            [
                (
                    "Schedule",
                    "Nightly backups of the okapi database run at two o'clock and are kept for 30 days.",
                )
            ],
        )
        response = client.post(
            f"{API}/sessions/{session}/messages/",
            {"content": "When do okapi database backups run?"},
            format="json",
        )
    assert response.status_code == 201, response.json()
    answer = response.json()
    assert answer["role"] == "assistant" and answer["status"] == "complete"
    assert "two o'clock" in answer["content"]
    assert [s["source_id"] for s in answer["sources"]] == [page.pk]

    history = client.get(f"{API}/sessions/{session}/messages/").json()
    assert [m["role"] for m in history["results"]] == ["user", "assistant"], "oldest first"
    assert history["results"][1]["uuid"] == answer["uuid"]


def test_feedback_once_per_user_and_message_second_post_updates(alice):
    account, client = alice
    session = ChatSession.objects.create(user=account)
    answer = Message.objects.create(session=session, role=Message.Role.ASSISTANT, content="An answer")
    url = f"{API}/messages/{answer.uuid}/feedback/"

    first = client.post(url, {"rating": "down", "comment": "Wrong page"}, format="json")
    assert first.status_code == 201
    second = client.post(url, {"rating": "up"}, format="json")
    assert second.status_code == 200
    feedback = MessageFeedback.objects.get(message=answer, user=account)
    assert feedback.rating == "up" and feedback.comment == ""
    assert MessageFeedback.objects.count() == 1

    bad = client.post(url, {"rating": "meh"}, format="json")
    assert bad.status_code == 400 and "rating" in error(bad)["fields"]
    question = Message.objects.create(session=session, role=Message.Role.USER, content="Q")
    assert client.post(f"{API}/messages/{question.uuid}/feedback/", {"rating": "up"}).status_code == 404


def test_message_list_carries_the_askers_own_feedback_for_a_reloaded_chat(alice, bob):
    account, client = alice
    session = ChatSession.objects.create(user=account)
    Message.objects.create(session=session, role=Message.Role.USER, content="Q1")
    rated = Message.objects.create(session=session, role=Message.Role.ASSISTANT, content="A1")
    unrated = Message.objects.create(session=session, role=Message.Role.ASSISTANT, content="A2")
    url = f"{API}/messages/{rated.uuid}/feedback/"
    assert client.post(url, {"rating": "down", "comment": "Wrong page"}, format="json").status_code == 201
    # Someone else's rating of the same answer (an editor acting on it, say) is not the asker's own.
    MessageFeedback.objects.create(message=unrated, user=bob[0], rating="up")

    results = client.get(f"{API}/sessions/{session.uuid}/messages/").json()["results"]
    by_id = {m["uuid"]: m for m in results}
    assert by_id[str(rated.uuid)]["feedback"] == {"rating": "down", "comment": "Wrong page"}
    assert by_id[str(unrated.uuid)]["feedback"] is None
    assert all(m["feedback"] is None for m in results if m["role"] == "user")

    client.post(url, {"rating": "up"}, format="json")
    results = client.get(f"{API}/sessions/{session.uuid}/messages/").json()["results"]
    assert {m["uuid"]: m["feedback"] for m in results}[str(rated.uuid)] == {"rating": "up", "comment": ""}


def test_feedback_analytics_are_for_staff_only(alice):
    account, client = alice
    session = ChatSession.objects.create(user=account)
    answers = [Message.objects.create(session=session, role="assistant", content=f"A{i}") for i in range(4)]
    raters = [user(f"rater{i}") for i in range(3)]
    for rater, rating in zip(raters, ["up", "up", "down"], strict=True):
        MessageFeedback.objects.create(message=answers[0], user=rater, rating=rating)

    assert client.get(f"{API}/analytics/feedback/").status_code == 403
    _, staff_token = token_user("staff", is_staff=True)
    data = api_client(staff_token).get(f"{API}/analytics/feedback/", {"days": 7}).json()
    assert data["total_answers"] == 4
    assert (data["up"], data["down"]) == (2, 1)
    assert data["satisfaction_rate"] == pytest.approx(2 / 3, abs=1e-3)
    [today] = data["per_day"]
    assert (today["answers"], today["up"], today["down"]) == (4, 2, 1)
    # The dashboard's figures, as the admin shows them.
    assert data["dashboard"]["answers"] == 4
    assert data["dashboard"]["feedback"]["up"] == 2 and data["dashboard"]["feedback"]["down"] == 1


def test_anonymous_requests_are_refused_with_401():
    client = APIClient()
    for response in (
        client.get(f"{API}/sessions/"),
        client.post(f"{API}/sessions/", {}, format="json"),
        client.get(f"{API}/documents/"),
    ):
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"
        assert error(response)["code"] == "not_authenticated"


def test_token_auth_works_and_session_auth_enforces_csrf():
    account, token = token_user("carol")
    assert api_client(token).post(f"{API}/sessions/", {}, format="json").status_code == 201
    assert api_client("not-a-token").get(f"{API}/sessions/").status_code == 401

    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(account)
    assert browser.get(f"{API}/sessions/").status_code == 200
    refused = browser.post(f"{API}/sessions/", {}, format="json")
    assert refused.status_code == 403
    assert "CSRF" in error(refused)["message"]
    csrf = browser.get("/admin/login/").cookies["csrftoken"].value
    allowed = browser.post(f"{API}/sessions/", {}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert allowed.status_code == 201


def test_openapi_schema_is_valid_and_documents_the_event_stream(alice):
    from openapi_spec_validator import validate

    _, client = alice
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    spec = response.json()
    validate(spec)
    stream = spec["paths"]["/api/chatbot/sessions/{session_uuid}/messages/stream/"]["post"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    assert "event: token" in stream["responses"]["200"]["content"]["text/event-stream"]["schema"]["example"]
    assert {"413", "429"} <= set(stream["responses"])
    assert "/api/chatbot/documents/{document_id}/status/" in spec["paths"]
