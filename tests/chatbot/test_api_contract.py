"""The API as its specification gives it, spoken over HTTP to the real ASGI server.

`SpecClient` below is written from the specification's text only (endpoints, the streaming example, the
data model's field names): it reads nothing but the `data:` lines of the stream and switches on their
`type`, and knows no alias. The server is uvicorn on a free loopback port with the test settings, bound
to the test database, the test Redis and Elasticsearch, with the real Celery worker indexing what the
tests publish or upload.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.chatbot.api_helpers import chat_log_reader, token_user
from tests.factories import heading, knowledge_page, paragraph, site_home
from tests.services import ServedSite, WorkerProcess, database_url, served_through_test, uvicorn_serve

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FROBNICATION = (
    "The zanzibarite cache frobnicates templates before rendering them. "
    "Each template is frobnicated once per deployment and kept in memory. "
    "Frobnicated templates render three times faster than plain ones."
)
FROBNICATION_QUESTION = "How does the zanzibarite cache frobnicate templates?"
QUAGGA = (
    "Quagga snapshots are protected by encryption with a rotating key. "
    "Quagga snapshots are protected by copies in a second region. "
    "Quagga snapshots are protected by weekly restore drills run by the operations team."
)
QUAGGA_QUESTION = "How are quagga snapshots protected?"


# --- the client, from the specification -------------------------------------------------------------


@dataclass
class Answer:
    tokens: list[str]
    sources: list[dict[str, Any]]
    complete: dict[str, Any] | None
    errors: list[dict[str, Any]]
    payloads: list[dict[str, Any]]

    @property
    def text(self) -> str:
        return "".join(self.tokens)


class SpecClient:
    """`/api/chatbot/...` with a token, as the specification describes it."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=f"{base_url}/api/chatbot",
            headers={"Authorization": f"Token {token}"},
            timeout=httpx.Timeout(60.0),
        )

    def close(self) -> None:
        self.http.close()

    def create_session(self, **fields: Any) -> dict[str, Any]:
        response = self.http.post("/sessions/", json=fields)
        assert response.status_code == 201, response.text
        return response.json()

    def patch_session(self, session_id: str, **fields: Any) -> httpx.Response:
        return self.http.patch(f"/sessions/{session_id}/", json=fields)

    def stream(self, session_id: str, message: str, *, include_sources: bool = True) -> Answer:
        answer = Answer(tokens=[], sources=[], complete=None, errors=[], payloads=[])
        body = {"message": message, "include_sources": include_sources}
        with self.http.stream("POST", f"/sessions/{session_id}/messages/stream/", json=body) as response:
            assert response.status_code == 200, response.read().decode()
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = json.loads(line[len("data:") :].strip())
                answer.payloads.append(data)
                if data["type"] == "token":
                    answer.tokens.append(data["content"])
                elif data["type"] == "source":
                    answer.sources.append(data)
                elif data["type"] == "complete":
                    answer.complete = data
                elif data["type"] == "error":
                    answer.errors.append(data)
        return answer


ApiServer = ServedSite


def api_server_start(db_url: str) -> ApiServer:
    """uvicorn with the test settings on a free loopback port (`uvicorn_serve`)."""
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "datacollection.settings.test",
        "DATABASE_URL": db_url,
        # Each test asks a handful of questions; earlier runs in the same minute share the counters.
        "CHATBOT_RATE_MESSAGES": "1000/m",
        "CHATBOT_RATE_UPLOADS": "1000/d",
        "CHAT_ANSWER_CACHE": "0",
        "LOG_LEVEL": "WARNING",
    }
    return uvicorn_serve(env, log_name="api-contract-server.log")


@pytest.fixture
def api_server(celery_worker: WorkerProcess) -> Iterator[ApiServer]:
    """A fresh server per test (the flush between transactional tests makes a long-lived process's
    content type cache stale), on an empty knowledge index the worker fills."""
    from django.db import connection

    from search.backends import get_search_backend

    get_search_backend().drop()
    with served_through_test(api_server_start(database_url(connection.settings_dict))) as server:
        yield server


@pytest.fixture
def client(api_server: ApiServer) -> Iterator[SpecClient]:
    _, token = token_user("speaker")
    spec_client = SpecClient(api_server.url, token)
    yield spec_client
    spec_client.close()


def published(title: str, section: str, text: str) -> Any:
    """A public knowledge page, indexed by the worker."""
    from tests.browser.conftest import wait_for_indexed

    page = knowledge_page(site_home(), title=title, body=[heading(section), paragraph(text)])
    wait_for_indexed("page", page.pk)
    return page


def event_schemas(server: ApiServer, client: SpecClient) -> Any:
    """A validator of `data:` payloads from the server's own OpenAPI schema."""
    from openapi_schema_validator import OAS30Validator

    schema = client.http.get(
        f"{server.url}/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}
    ).json()
    stream = schema["paths"]["/api/chatbot/sessions/{session_uuid}/messages/stream/"]["post"]
    return OAS30Validator(stream["responses"]["200"]["content"]["text/event-stream"]["schema"]["x-sse-data"])


# --- the contract ------------------------------------------------------------------------------------


def test_create_stream_list_feedback_upload_status_analytics(api_server, client, tmp_path):
    page = published("Caching guide", "Frobnication", FROBNICATION)
    validator = event_schemas(api_server, client)

    session = client.create_session(title="Caching")
    assert uuid.UUID(session["id"]) and session["title"] == "Caching" and session["is_active"] is True
    assert {"settings", "created_at", "updated_at"} <= set(session)
    assert client.http.get(f"/sessions/{session['id']}/").json()["id"] == session["id"]
    assert session["id"] in [s["id"] for s in client.http.get("/sessions/").json()["results"]]

    answer = client.stream(session["id"], FROBNICATION_QUESTION)
    for payload in answer.payloads:
        validator.validate(payload)
    assert not answer.errors and len(answer.tokens) >= 2
    assert "frobnicat" in answer.text.lower()
    [source] = answer.sources
    assert source["doc_id"] == f"page:{page.pk}" and source["title"] == "Caching guide"
    assert "frobnicat" in source["excerpt"].lower()
    assert source["section_title"] == "Frobnication" and isinstance(source["chunk_index"], int)
    complete = answer.complete
    assert complete is not None and complete["tokens"] > 0 and complete["response_time"] > 0
    assert answer.payloads[-1] is complete
    # The default extractive answerer wrote no prose: the answer is labelled as quoted.
    assert complete["quoted"] is True and complete["model"] == "extractive"

    messages = client.http.get(f"/sessions/{session['id']}/messages/").json()["results"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    question, reply = messages
    assert question["content"] == FROBNICATION_QUESTION
    assert reply["id"] == complete["message_id"] and reply["content"] == answer.text.strip()
    assert reply["tokens_used"] == complete["tokens"] and reply["response_time"] > 0
    assert [s["doc_id"] for s in reply["sources"]] == [source["doc_id"]]
    assert {"created_at", "sources"} <= set(reply)
    assert reply["quoted"] is True and question["quoted"] is False
    assert reply["related"] == [] and complete["related"] == [], "an answer points to no other pages"

    whole = client.http.post(f"/sessions/{session['id']}/messages/", json={"message": FROBNICATION_QUESTION})
    assert whole.status_code == 201 and "frobnicat" in whole.json()["content"].lower()

    rated = client.http.post(
        f"/messages/{reply['id']}/feedback/",
        json={"rating": "up", "comment": "Clear", "metadata": {"client": "contract"}},
    )
    assert rated.status_code == 201, rated.text
    assert (rated.json()["rating"], rated.json()["comment"]) == ("up", "Clear")
    assert rated.json()["metadata"] == {"client": "contract"}

    notes = tmp_path / "okapi-notes.md"
    body = (
        f"# Okapi feeding\n\nThe okapi enclosure is cleaned every Tuesday morning. Run {uuid.uuid4().hex}.\n"
    )
    notes.write_text(body)
    with notes.open("rb") as file:
        uploaded = client.http.post("/documents/", files={"file": ("okapi-notes.md", file, "text/markdown")})
    assert uploaded.status_code == 201, uploaded.text
    document = uploaded.json()
    # The title is the file name's stem read as words (knowledgebase/extraction/names.py).
    assert document["title"] == "okapi notes" and document["file_type"] == "md"
    assert document["content_hash"] == hashlib.sha256(body.encode()).hexdigest()
    assert document["uploaded_at"] and document["processed"] is False
    assert document["id"] in [d["id"] for d in client.http.get("/documents/").json()["results"]]

    deadline = time.monotonic() + 90
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = client.http.get(f"/documents/{document['id']}/status/").json()
        if status["processed"] or status["status"] == "failed":
            break
        time.sleep(0.3)
    assert status["processed"] is True, status
    assert status["total_chunks"] >= 1 and status["processed_at"]
    detail = client.http.get(f"/documents/{document['id']}/").json()
    assert detail["processed"] is True and detail["total_chunks"] == status["total_chunks"]
    assert detail["processed_at"] and isinstance(detail["processing_metadata"], dict)

    _, staff_token = chat_log_reader("analyst")
    staff = SpecClient(api_server.url, staff_token)
    try:
        analytics = staff.http.get("/analytics/feedback/")
    finally:
        staff.close()
    assert analytics.status_code == 200, analytics.text
    assert analytics.json()["total_answers"] == 2 and analytics.json()["up"] == 1

    assert client.http.delete(f"/documents/{document['id']}/").status_code == 204
    assert client.http.delete(f"/sessions/{session['id']}/").status_code == 204
    assert client.http.get(f"/sessions/{session['id']}/").status_code == 404


def test_patched_settings_are_honoured_and_refused_by_name(api_server, client):
    quagga = published("Quagga snapshots", "Protection", QUAGGA)
    caching = published("Caching guide", "Frobnication", FROBNICATION)
    session = client.create_session()
    assert session["settings"] == {"scope": [], "answer_length": None, "model": None, "filters": None}

    full = client.stream(session["id"], QUAGGA_QUESTION)
    assert full.complete is not None and full.text.count(".") == 3, full.text
    assert [s["doc_id"] for s in full.sources] == [f"page:{quagga.pk}"]

    changed = client.patch_session(session["id"], settings={"answer_length": "short"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["settings"]["answer_length"] == "short"
    short = client.stream(session["id"], QUAGGA_QUESTION)
    assert short.complete is not None and short.text.count(".") == 1, short.text
    assert short.complete["tokens"] < full.complete["tokens"]

    # The scope takes a source's doc_id, as the stream gives it.
    scoped = client.patch_session(
        session["id"], settings={"scope": [f"page:{caching.pk}"], "answer_length": None}
    )
    assert scoped.status_code == 200, scoped.text
    assert scoped.json()["settings"] == {
        "scope": [f"page:{caching.pk}"],
        "answer_length": None,
        "model": None,
        "filters": None,
    }
    outside = client.stream(session["id"], QUAGGA_QUESTION)
    assert outside.complete is not None and outside.complete["declined"] is True
    assert outside.sources == [] and "quagga snapshots are protected" not in outside.text.lower()
    # A decline may point to the closest pages, but only inside the scope.
    assert {r["doc_id"] for r in outside.complete["related"]} <= {f"page:{caching.pk}"}
    inside = client.stream(session["id"], FROBNICATION_QUESTION)
    assert [s["doc_id"] for s in inside.sources] == [f"page:{caching.pk}"]

    for bad, key in (({"verbosity": "high"}, "verbosity"), ({"answer_length": "epic"}, "answer_length")):
        refused = client.patch_session(session["id"], settings=bad)
        assert refused.status_code == 400
        assert refused.headers["content-type"] == "application/json"
        assert key in refused.json()["error"]["message"], refused.json()
    assert client.http.get(f"/sessions/{session['id']}/").json()["settings"]["scope"] == [
        f"page:{caching.pk}"
    ]


def test_include_sources_false_sends_no_source_events(api_server, client):
    published("Caching guide", "Frobnication", FROBNICATION)
    session = client.create_session()

    answer = client.stream(session["id"], FROBNICATION_QUESTION, include_sources=False)
    assert answer.complete is not None and "frobnicat" in answer.text.lower()
    assert answer.sources == [] and answer.complete["sources"] == []
    assert [p["type"] for p in answer.payloads if p["type"] != "token"] == ["complete"]
    with_sources = client.stream(session["id"], FROBNICATION_QUESTION)
    assert len(with_sources.sources) == 1
