"""Exports (issue 21, item 5): a user's session as Markdown with citations or JSON, feedback with the
passages its answers cited for chat-log readers (withholding passages they may not see), and every
session of a period for an operator, audited in Wagtail's log."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from wagtail.models import ModelLogEntry, PageViewRestriction

from chatbot.exports import HIDDEN_PASSAGE, SESSIONS_EXPORT
from chatbot.models import ChatSession
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


@pytest.fixture
def answered() -> Any:
    with isolated_index(), fresh_rate_limits():
        group = Group.objects.create(name="Finance")
        public = indexed_page("Okapi feeding", [("Leaves", "Okapis eat leaves of forty kinds of plants.")])
        secret = indexed_page("Okapi budget", [("Costs", "The okapi fodder budget is zqbudgetxv a year.")])
        rule = PageViewRestriction.objects.create(page=secret, restriction_type=PageViewRestriction.GROUPS)
        rule.groups.add(group)
        from knowledgebase.models import IndexingJob
        from knowledgebase.services import source_sync

        for job in IndexingJob.objects.filter(status="queued"):
            source_sync(job)
        account, token = token_user("asker", groups=(group,))
        client = api_client(token)
        session = client.post(f"{API}/sessions/", {}, format="json").json()["id"]
        answers = {}
        for name, question in (
            ("public", "What do okapis eat?"),
            ("secret", "What is the okapi fodder budget?"),
        ):
            response = client.post(
                f"{API}/sessions/{session}/messages/", {"message": question}, format="json"
            )
            assert response.status_code == 201, response.content
            answers[name] = response.json()
        yield {"client": client, "session": session, "answers": answers, "public": public, "secret": secret}


def test_a_user_exports_their_session_as_markdown_with_citations_and_as_json(answered):
    client, session = answered["client"], answered["session"]
    markdown = client.get(f"{API}/sessions/{session}/export/")
    assert markdown.status_code == 200
    assert markdown["Content-Disposition"] == f'attachment; filename="chat-{session}.md"'
    text = markdown.content.decode()
    assert "## Question\n\nWhat do okapis eat?" in text
    assert "forty kinds of plants" in text
    assert f"1. [Okapi feeding › Leaves]({answered['public'].url}#leaves)" in text

    data = client.get(f"{API}/sessions/{session}/export/", {"export_format": "json"}).json()
    assert [m["role"] for m in data["messages"]] == ["user", "assistant", "user", "assistant"]
    assert data["messages"][1]["sources"][0]["doc_id"] == f"page:{answered['public'].pk}"

    _, other = token_user("other")
    assert api_client(other).get(f"{API}/sessions/{session}/export/").status_code == 404
    refused = client.get(f"{API}/sessions/{session}/export/", {"export_format": "pdf"})
    assert refused.status_code == 400


def test_editors_export_feedback_with_the_passages_they_may_see(answered):
    client = answered["client"]
    for name, comment in (("public", '=HYPERLINK("http://x")'), ("secret", "Which year?")):
        message = answered["answers"][name]["id"]
        rated = client.post(f"{API}/messages/{message}/feedback/", {"rating": "down", "comment": comment})
        assert rated.status_code in (200, 201), rated.content
    _, reader_token = chat_log_reader("editor")
    reader = api_client(reader_token)

    rows = reader.get(f"{API}/analytics/feedback/export/", {"export_format": "json"}).json()
    by_question = {row["question"]: row for row in rows}
    seen = by_question["What do okapis eat?"]["sources"][0]
    assert seen["title"] == "Okapi feeding" and "forty kinds of plants" in seen["passage"]
    hidden = by_question["What is the okapi fodder budget?"]["sources"][0]
    assert hidden["passage"] == HIDDEN_PASSAGE and hidden["title"] == "" and hidden["url"] == ""
    assert "zqbudgetxv" not in json.dumps(hidden)

    exported = reader.get(f"{API}/analytics/feedback/export/")
    assert exported["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.content.decode())))
    public_row = next(row for row in table if row["question"] == "What do okapis eat?")
    assert public_row["comment"].startswith("'=HYPERLINK")  # a formula stays text
    assert "forty kinds of plants" in public_row["sources"]

    _, plain = token_user("plain")
    assert api_client(plain).get(f"{API}/analytics/feedback/export/").status_code == 403


def test_operators_export_a_periods_sessions_and_it_is_audited(answered, tmp_path):
    old = ChatSession.objects.create(user=user("earlier"), title="Old chat")
    ChatSession.objects.filter(pk=old.pk).update(created_at=datetime(2020, 1, 5, tzinfo=UTC))
    operator = user("ops", is_staff=True)
    target = tmp_path / "sessions.jsonl"
    call_command(
        "export_sessions",
        "--since",
        "2021-01-01",
        "--operator",
        "ops",
        "--reason",
        "Quarterly review",
        "--output",
        str(target),
        stderr=io.StringIO(),
    )
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line["id"] for line in lines] == [answered["session"]]
    assert lines[0]["user"]["username"] == "asker" and len(lines[0]["messages"]) == 4
    entry = ModelLogEntry.objects.get(action=SESSIONS_EXPORT)
    assert entry.user_id == operator.pk and entry.data["count"] == 1
    assert entry.data["reason"] == "Quarterly review"

    out = io.StringIO()
    call_command(
        "export_sessions",
        "--since",
        "2020-01-01",
        "--until",
        "2020-02-01",
        "--operator",
        "ops",
        "--reason",
        "Audit",
        stdout=out,
    )
    assert [json.loads(line)["title"] for line in out.getvalue().splitlines()] == ["Old chat"]
    user("nobody")
    with pytest.raises(CommandError, match="staff"):
        call_command("export_sessions", "--since", "2020-01-01", "--operator", "nobody", "--reason", "x")
