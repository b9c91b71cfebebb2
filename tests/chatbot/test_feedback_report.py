"""Answer feedback per page: the edit-view panel, the report (counts, filters, export) and resolving."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.chatbot.test_feedback_data import (
    answer,
    chat_log_reader,
    days_ago,
    document,
    editor,
    page,
    rate,
    rate_via_api,
    section,
)
from tests.factories import user

pytestmark = pytest.mark.django_db

REPORT = "/admin/reports/answer-feedback/"


def _figures(html: str, scope: str = "") -> dict[str, str]:
    if scope:
        html = html.split(f'data-source="{scope}"', 1)[1].split("</tr>", 1)[0]
    return dict(re.findall(r'data-figure="(\w+)">([^<]*)<', html))


@pytest.fixture
def knowledge(client: Any) -> dict[str, Any]:
    """Docs › {Install, Upgrade}, Guides › {Deploy}, a document; answers rated through the API."""
    docs, guides = section("Docs", "docs"), section("Guides", "guides")
    install, upgrade, deploy = page(docs, "Install"), page(docs, "Upgrade"), page(guides, "Deploy")
    handbook = document("Handbook")
    ana, ben, cy = user("ana"), user("ben"), user("cy")
    a1 = answer(ana, question="How do I install it?", cites=[install], at=days_ago(2))
    a2 = answer(ben, question="Install on Windows?", cites=[install, handbook], at=days_ago(1))
    a3 = answer(cy, question="Install steps", cites=[install, install], at=days_ago(40))
    a4 = answer(ana, question="How to upgrade?", cites=[upgrade], at=days_ago(3))
    a5 = answer(ben, question="Deploying?", cites=[deploy], at=days_ago(1))
    rate_via_api(client, a1, "down", "Missing the pip command")
    rate_via_api(client, a2, "down", "Windows is not covered at all")
    rate_via_api(client, a3, "up")
    rate_via_api(client, a4, "up", "Clear, thanks")
    rate_via_api(client, a5, "down", "Outdated")
    return {"docs": docs, "install": install, "upgrade": upgrade, "deploy": deploy, "handbook": handbook}


def test_feedback_from_the_api_appears_in_the_page_panel(client: Any, knowledge: dict[str, Any]) -> None:
    client.force_login(editor())
    response = client.get(f"/admin/pages/{knowledge['install'].pk}/edit/")
    html = response.content.decode()
    assert response.status_code == 200
    # a3 cites Install twice and counts once; three answers, two 👎 one 👍.
    assert _figures(html) == {"answers": "3", "up": "1", "down": "2", "satisfaction": "33%"}
    assert "Windows is not covered at all" in html and "Missing the pip command" in html
    # Other users' questions need the chat-log permission, which an editor does not have.
    assert "Install on Windows?" not in html and "How do I install it?" not in html
    assert "Can view chat logs" in html

    client.force_login(chat_log_reader())
    html = client.get(f"/admin/pages/{knowledge['install'].pk}/edit/").content.decode()
    assert "Install on Windows?" in html and "How do I install it?" in html


def test_document_edit_view_has_the_panel(client: Any, knowledge: dict[str, Any]) -> None:
    admin = user("root", is_superuser=True, is_staff=True)
    client.force_login(admin)
    response = client.get(f"/admin/snippets/knowledgebase/knowledgedocument/edit/{knowledge['handbook'].pk}/")
    assert response.status_code == 200
    assert _figures(response.content.decode()) == {
        "answers": "1",
        "up": "0",
        "down": "1",
        "satisfaction": "0%",
    }


def test_report_lists_sources_by_unresolved_thumbs_down(client: Any, knowledge: dict[str, Any]) -> None:
    client.force_login(user("root", is_superuser=True, is_staff=True))
    html = client.get(REPORT).content.decode()
    install, deploy, doc = (
        f"page:{knowledge['install'].pk}",
        f"page:{knowledge['deploy'].pk}",
        f"document:{knowledge['handbook'].pk}",
    )
    assert _figures(html, install) == {"answers": "3", "up": "1", "down": "2", "open_down": "2"}
    assert _figures(html, deploy) == {"answers": "1", "up": "0", "down": "1", "open_down": "1"}
    assert _figures(html, doc) == {"answers": "1", "up": "0", "down": "1", "open_down": "1"}
    assert html.index(install) < html.index(deploy)  # worst first
    assert f"page:{knowledge['upgrade'].pk}" not in html  # only 👍: not by default

    everything = client.get(REPORT, {"show": "all"}).content.decode()
    assert _figures(everything, f"page:{knowledge['upgrade'].pk}") == {
        "answers": "1",
        "up": "1",
        "down": "0",
        "open_down": "0",
    }


def test_report_date_and_section_filters(client: Any, knowledge: dict[str, Any]) -> None:
    client.force_login(user("root", is_superuser=True, is_staff=True))
    install = f"page:{knowledge['install'].pk}"
    recent = client.get(REPORT, {"answered_after": days_ago(10).date().isoformat(), "show": "all"})
    # The 40-day-old answer (the only 👍 on Install) drops out.
    assert _figures(recent.content.decode(), install) == {
        "answers": "2",
        "up": "0",
        "down": "2",
        "open_down": "2",
    }

    old = client.get(
        REPORT, {"answered_before": days_ago(30).date().isoformat(), "show": "all"}
    ).content.decode()
    assert _figures(old, install) == {"answers": "1", "up": "1", "down": "0", "open_down": "0"}
    assert f"page:{knowledge['deploy'].pk}" not in old

    docs_only = client.get(REPORT, {"section": knowledge["docs"].pk}).content.decode()
    assert install in docs_only
    assert f"page:{knowledge['deploy'].pk}" not in docs_only
    assert f"document:{knowledge['handbook'].pk}" not in docs_only


def test_report_exports_csv_and_xlsx(client: Any, knowledge: dict[str, Any]) -> None:
    client.force_login(user("root", is_superuser=True, is_staff=True))
    response = client.get(REPORT, {"export": "csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_title = {row["Title"]: row for row in rows}
    assert set(by_title) == {"Install", "Deploy", "Handbook"}
    assert by_title["Install"]["Answers citing it"] == "3"
    assert by_title["Install"]["Unresolved thumbs down"] == "2"
    assert by_title["Install"]["Section"] == "Docs"
    assert by_title["Handbook"]["Kind"] == "Document"

    xlsx = client.get(REPORT, {"export": "xlsx", "section": knowledge["docs"].pk})
    sheet = load_workbook(io.BytesIO(b"".join(xlsx.streaming_content))).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0][0] == "Title" and [row[0] for row in values[1:]] == ["Install"]


def test_resolving_hides_the_source_until_asked_for(client: Any, knowledge: dict[str, Any]) -> None:
    client.force_login(editor())
    deploy = knowledge["deploy"]
    key = f"page:{deploy.pk}"
    assert key in client.get(REPORT).content.decode()
    response = client.post(f"/admin/chatbot/feedback/page/{deploy.pk}/resolve/", {"next": REPORT})
    assert response.status_code == 302 and response["Location"] == REPORT
    assert key not in client.get(REPORT).content.decode()
    shown = client.get(REPORT, {"show": "negative"}).content.decode()
    assert _figures(shown, key) == {"answers": "1", "up": "0", "down": "1", "open_down": "0"}


def test_resolving_one_item_from_the_panel(client: Any, knowledge: dict[str, Any]) -> None:
    from chatbot.models import MessageFeedback

    account = editor()
    client.force_login(account)
    item = MessageFeedback.objects.get(comment="Missing the pip command")
    confirm = client.get(f"/admin/chatbot/feedback/{item.pk}/resolve/")
    assert confirm.status_code == 200 and b"Missing the pip command" in confirm.content
    assert b"How do I install it?" not in confirm.content, "the question needs the chat-log permission"
    client.post(f"/admin/chatbot/feedback/{item.pk}/resolve/")
    item.refresh_from_db()
    assert item.resolved and item.resolved_by == account and item.resolved_at is not None
    html = client.get(f"/admin/pages/{knowledge['install'].pk}/edit/").content.decode()
    assert "Missing the pip command" not in html and "Windows is not covered" in html
    assert _figures(html)["down"] == "2"  # resolved feedback still counts


def test_resolving_needs_edit_permission_on_a_cited_source(client: Any, knowledge: dict[str, Any]) -> None:
    from chatbot.models import MessageFeedback

    outsider = user("outsider", is_staff=True)
    outsider.user_permissions.add(*_admin_access())
    client.force_login(outsider)
    item = MessageFeedback.objects.get(comment="Outdated")
    assert client.post(f"/admin/chatbot/feedback/{item.pk}/resolve/").status_code == 403
    assert client.post(f"/admin/chatbot/feedback/page/{knowledge['deploy'].pk}/resolve/").status_code == 403
    assert client.get(REPORT).status_code == 403
    item.refresh_from_db()
    assert not item.resolved


def test_report_rows_are_limited_to_what_the_editor_may_edit(client: Any, knowledge: dict[str, Any]) -> None:
    from django.contrib.auth.models import Group
    from wagtail.models import GroupPagePermission

    group = Group.objects.create(name="Guides editors")
    group.permissions.add(*_admin_access())
    GroupPagePermission.objects.create(
        group=group, page=knowledge["deploy"].get_parent(), permission_type="change"
    )
    client.force_login(user("guide", groups=(group,)))
    html = client.get(REPORT).content.decode()
    assert f"page:{knowledge['deploy'].pk}" in html
    assert f"page:{knowledge['install'].pk}" not in html
    assert f"document:{knowledge['handbook'].pk}" not in html


def test_rollup_selector_matches_the_report(knowledge: dict[str, Any]) -> None:
    from chatbot.feedback.selectors import SHOW_ALL, source_feedback, source_rollups

    rows = {(r["source_type"], r["source_id"]): r for r in source_rollups(show=SHOW_ALL)}
    install = rows[("page", knowledge["install"].pk)]
    assert (install["answers"], install["up"], install["down"]) == (3, 1, 2)
    summary = source_feedback("page", knowledge["upgrade"].pk)
    assert (summary.answers, summary.up, summary.down, summary.satisfaction) == (1, 1, 0, 1.0)
    assert [item.comment for item in summary.recent] == ["Clear, thanks"]
    assert summary.recent[0].question == "How to upgrade?"
    assert summary.recent[0].user == ""  # the asker is shown to chat-log readers only


def _admin_access() -> list[Any]:
    from django.contrib.auth.models import Permission

    return [Permission.objects.get(codename="access_admin")]


def test_rate_helper_and_api_agree(client: Any) -> None:
    """The API replaces a user's earlier rating; the roll-up counts the latest one."""
    from chatbot.feedback.selectors import source_feedback

    target = page(section(), "Only")
    reply = answer(user("dee"), question="q?", cites=[target])
    rate_via_api(client, reply, "up")
    rate_via_api(client, reply, "down", "changed my mind")
    assert (source_feedback("page", target.pk).up, source_feedback("page", target.pk).down) == (0, 1)
    rate(reply, user("eve"), "up")
    assert source_feedback("page", target.pk).satisfaction == 0.5
