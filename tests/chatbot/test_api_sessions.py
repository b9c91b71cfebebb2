"""Sessions, messages, feedback and analytics over REST, against the real answer service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from chatbot.llm.extractive import ExtractiveLLM
from chatbot.models import ChatSession, Message, MessageFeedback
from knowledgebase.models import KnowledgeDocument
from tests.chatbot.api_helpers import (
    api_client,
    chat_log_reader,
    fresh_rate_limits,
    indexed_page,
    isolated_index,
    token_user,
)
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


def test_feedback_analytics_need_the_chat_logs_permission(alice):
    account, client = alice
    session = ChatSession.objects.create(user=account)
    answers = [Message.objects.create(session=session, role="assistant", content=f"A{i}") for i in range(4)]
    raters = [user(f"rater{i}") for i in range(3)]
    for rater, rating in zip(raters, ["up", "up", "down"], strict=True):
        MessageFeedback.objects.create(message=answers[0], user=rater, rating=rating)

    assert client.get(f"{API}/analytics/feedback/").status_code == 403
    # Staff alone is not enough: the analytics carry other users' declined questions (content gaps).
    _, staff_token = token_user("staff", is_staff=True)
    refused = api_client(staff_token).get(f"{API}/analytics/feedback/")
    assert refused.status_code == 403 and "view chat logs" in refused.json()["error"]["message"]
    _, reader_token = chat_log_reader("reader")
    data = api_client(reader_token).get(f"{API}/analytics/feedback/", {"days": 7}).json()
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


# --- the specified names (issue 14): `id`, `message`, `settings`, `metadata` ------------------------


class BriefExtractiveLLM(ExtractiveLLM):
    """A second offline provider, told apart by its model name (this module is its BACKEND)."""

    model_name = "extractive-brief"


LLMBackend = BriefExtractiveLLM

TWO_MODELS = {
    "default": {"BACKEND": "chatbot.llm.extractive"},
    "brief": {"BACKEND": "tests.chatbot.test_api_sessions"},
}


def test_sessions_and_messages_are_identified_by_id_the_uuid_their_urls_take(alice):
    account, client = alice
    created = client.post(f"{API}/sessions/", {"title": "Ids"}, format="json").json()
    assert created["id"] == created["uuid"] == str(ChatSession.objects.get(user=account).uuid)
    assert client.get(f"{API}/sessions/{created['id']}/").json()["id"] == created["id"]
    session = ChatSession.objects.get(uuid=created["id"])
    answer = Message.objects.create(session=session, role=Message.Role.ASSISTANT, content="A", tokens_used=7)
    [listed] = client.get(f"{API}/sessions/{created['id']}/messages/").json()["results"]
    assert listed["id"] == listed["uuid"] == str(answer.uuid)
    assert listed["tokens_used"] == 7 and "response_time" in listed
    assert client.post(f"{API}/messages/{listed['id']}/feedback/", {"rating": "up"}).status_code == 201


def test_questions_are_sent_as_message_with_content_kept_as_its_alias(alice):
    _, client = alice
    session = client.post(f"{API}/sessions/", {}, format="json").json()["id"]
    with isolated_index():
        indexed_page("Backups", [("Schedule", "Nightly backups of the okapi database run at two o'clock.")])
        by_message = client.post(
            f"{API}/sessions/{session}/messages/",
            {"message": "When do okapi database backups run?", "include_sources": False},
            format="json",
        )
        by_content = client.post(
            f"{API}/sessions/{session}/messages/", {"content": "When do okapi backups run?"}, format="json"
        )
    assert by_message.status_code == 201, by_message.json()
    assert "two o'clock" in by_message.json()["content"]
    assert by_message.json()["sources"] == [], "include_sources: false leaves the sources out"
    assert by_content.status_code == 201 and by_content.json()["sources"]
    [source] = by_content.json()["sources"]
    assert source["doc_id"] == f"page:{source['source_id']}" and source["section_title"] == "Schedule"
    assert isinstance(source["chunk_index"], int) and 0 < source["relevance_score"] <= 1

    missing = client.post(f"{API}/sessions/{session}/messages/", {"question": "Hi"}, format="json")
    assert missing.status_code == 400
    assert error(missing)["message"] == "message: This field is required."


def test_patch_settings_accepts_known_keys_only_and_merges(alice):
    _, client = alice
    session = client.post(f"{API}/sessions/", {}, format="json").json()
    assert session["settings"] == {"scope": [], "answer_length": None, "model": None, "filters": None}
    url = f"{API}/sessions/{session['id']}/"

    changed = client.patch(url, {"settings": {"answer_length": "short"}}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["settings"]["answer_length"] == "short"
    kept = client.patch(url, {"settings": {"model": "default"}}, format="json").json()["settings"]
    assert kept == {"scope": [], "answer_length": "short", "model": "default", "filters": None}
    reset = client.patch(url, {"settings": {"answer_length": None}}, format="json").json()["settings"]
    assert reset == {"scope": [], "answer_length": None, "model": "default", "filters": None}
    assert ChatSession.objects.get(uuid=session["id"]).settings == {"model": "default"}

    for bad, key in (
        ({"temperature": 2}, "temperature"),
        ({"answer_length": "epic"}, "answer_length"),
        ({"model": "gpt-9"}, "model"),
        ({"scope": ["page:999999"]}, "scope"),
        ({"scope": "page:1"}, "scope"),
        ({"filters": {"colour": "red"}}, "filters"),
        ({"filters": {"content_type": "video"}}, "filters"),
    ):
        refused = client.patch(url, {"settings": bad}, format="json")
        assert refused.status_code == 400, bad
        body = error(refused)
        assert body["code"] == "invalid" and body["message"].startswith(f"settings: {key}: "), body
        assert key in body["fields"]["settings"]
    not_an_object = client.patch(url, {"settings": ["short"]}, format="json")
    assert not_an_object.status_code == 400 and "settings" in error(not_an_object)["fields"]
    assert ChatSession.objects.get(uuid=session["id"]).settings == {"model": "default"}


def test_settings_scope_is_the_sessions_scope(alice):
    account, client = alice
    own = KnowledgeDocument.objects.create(title="Mine", file="knowledge/mine.txt", owner=account, live=False)
    session = client.post(
        f"{API}/sessions/", {"settings": {"scope": [f"document:{own.pk}"]}}, format="json"
    ).json()
    assert session["scope"] == session["settings"]["scope"] == [f"document:{own.pk}"]
    url = f"{API}/sessions/{session['id']}/"
    cleared = client.patch(url, {"settings": {"scope": None}}, format="json").json()
    assert cleared["scope"] == cleared["settings"]["scope"] == []
    assert ChatSession.objects.get(uuid=session["id"]).scope == []


def test_settings_model_selects_among_the_allowed_providers(alice):
    _, client = alice
    session = client.post(f"{API}/sessions/", {}, format="json").json()["id"]
    question = {"message": "When do okapi database backups run?"}
    with isolated_index(), override_settings(CHATBOT_LLM_BACKENDS=TWO_MODELS):
        indexed_page("Backups", [("Schedule", "Nightly backups of the okapi database run at two o'clock.")])
        default = client.post(f"{API}/sessions/{session}/messages/", question, format="json").json()
        chosen = client.patch(f"{API}/sessions/{session}/", {"settings": {"model": "brief"}}, format="json")
        assert chosen.status_code == 200, chosen.json()
        brief = client.post(f"{API}/sessions/{session}/messages/", question, format="json").json()
        with override_settings(CHATBOT_SESSION_MODELS=["default"]):
            refused = client.patch(
                f"{API}/sessions/{session}/", {"settings": {"model": "brief"}}, format="json"
            )
            # A choice the site no longer allows is ignored: the default provider answers.
            fallback = client.post(f"{API}/sessions/{session}/messages/", question, format="json").json()
    assert default["model"] == "extractive"
    assert brief["model"] == "extractive-brief" and "two o'clock" in brief["content"]
    assert refused.status_code == 400 and "allowed: default" in error(refused)["message"]
    assert fallback["model"] == "extractive"


def test_settings_answer_length_caps_the_answer(alice):
    _, client = alice
    session = client.post(f"{API}/sessions/", {}, format="json").json()["id"]
    sentences = (
        "Quagga snapshots are protected by encryption with a rotating key. "
        "Quagga snapshots are protected by copies in a second region. "
        "Quagga snapshots are protected by weekly restore drills run by the operations team."
    )
    question = {"message": "How are quagga snapshots protected?"}
    with isolated_index():
        indexed_page("Quagga snapshots", [("Protection", sentences)])
        full = client.post(f"{API}/sessions/{session}/messages/", question, format="json").json()
        client.patch(f"{API}/sessions/{session}/", {"settings": {"answer_length": "short"}}, format="json")
        short = client.post(f"{API}/sessions/{session}/messages/", question, format="json").json()
    assert full["status"] == short["status"] == "complete"
    assert full["content"].count(".") == 3, full["content"]
    assert short["content"].count(".") == 1, short["content"]
    assert len(short["content"]) < len(full["content"])


def test_feedback_metadata_is_the_clients_and_leaves_the_servers_record_alone(alice):
    account, client = alice
    session = ChatSession.objects.create(user=account)
    answer = Message.objects.create(session=session, role=Message.Role.ASSISTANT, content="An answer")
    url = f"{API}/messages/{answer.uuid}/feedback/"
    first = client.post(url, {"rating": "up", "metadata": {"client": "cli", "v": 2}}, format="json")
    assert first.status_code == 201, first.json()
    assert first.json()["metadata"] == {"client": "cli", "v": 2}
    feedback = MessageFeedback.objects.get(message=answer)
    feedback.metadata = {**feedback.metadata, "editorial_action": {"action": "comment"}}
    feedback.save()

    second = client.post(url, {"rating": "down", "comment": "Old", "metadata": {"v": 3}}, format="json")
    assert second.status_code == 200 and second.json()["metadata"] == {"v": 3}
    feedback.refresh_from_db()
    assert feedback.metadata == {"editorial_action": {"action": "comment"}, "client": {"v": 3}}
    for bad in ([1, 2], {"x": "y" * 5000}):
        refused = client.post(url, {"rating": "up", "metadata": bad}, format="json")
        assert refused.status_code == 400 and "metadata" in error(refused)["fields"]


def test_openapi_schema_names_the_specified_fields(alice):
    from openapi_spec_validator import validate

    _, client = alice
    spec = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    validate(spec)
    components = spec["components"]["schemas"]

    def names(component: str) -> set[str]:
        return set(components[component]["properties"])

    assert {"id", "title", "is_active", "settings", "created_at", "updated_at", "uuid"} <= names(
        "ChatSession"
    )
    assert components["ChatSession"]["properties"]["id"]["format"] == "uuid"
    assert names("SessionSettings") == {"scope", "answer_length", "model", "filters"}
    assert {"id", "role", "content", "sources", "tokens_used", "response_time", "created_at"} <= names(
        "Message"
    )
    assert {"rating", "comment", "metadata"} <= names("Feedback")
    assert {
        "id",
        "title",
        "file_type",
        "content_hash",
        "processed",
        "total_chunks",
        "processing_metadata",
        "uploaded_at",
        "processed_at",
    } <= names("Document")
    assert {
        "doc_id",
        "title",
        "excerpt",
        "chunk_index",
        "page_number",
        "section_title",
        "relevance_score",
    } <= names("Source")
    assert {"message", "content", "include_sources"} <= names("Question")

    stream = spec["paths"]["/api/chatbot/sessions/{session_uuid}/messages/stream/"]["post"]
    [example] = stream["requestBody"]["content"]["application/json"]["examples"].values()
    assert example["value"] == {"message": "How do I configure audio processing?", "include_sources": True}
    sse = stream["responses"]["200"]["content"]["text/event-stream"]["schema"]
    assert 'data: {"type": "token", "content": "To"' in sse["example"]
    events = {e["properties"]["type"]["enum"][0]: e for e in sse["x-sse-data"]["oneOf"]}
    assert set(events) == {"token", "source", "complete", "error"}
    assert {"doc_id", "title", "excerpt"} <= set(events["source"]["required"])
    assert {"message_id", "tokens", "response_time"} <= set(events["complete"]["required"])
    assert all("type" in e["required"] for e in events.values())
    patch = spec["paths"]["/api/chatbot/sessions/{session_uuid}/"]["patch"]
    assert "400" in patch["responses"]
