"""The analytics dashboard and the read-only conversations: figures equal what the test's own messages
give, and only readers of chat logs get in."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from tests.chatbot.test_feedback_data import answer, chat_log_reader, days_ago, editor, page, rate, section
from tests.factories import user

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/chatbot/analytics/"


@pytest.fixture
def traffic() -> dict[str, Any]:
    from knowledgebase.models import IndexingJob

    target = page(section(), "Install")
    ana, ben = user("ana"), user("ben")
    specs = [  # (question, retrieval, first token, total, tokens, cache hit, status, declined, days ago)
        ("How do I install?", 0.10, 0.30, 1.2, 120, False, "complete", False, 1),
        ("How do I install?", 0.05, 0.05, 0.1, 0, True, "complete", False, 1),
        ("Where is the SSO setup?", 0.20, 0.50, 2.0, 90, False, "complete", True, 2),
        ("where is the SSO setup", 0.25, 0.40, 1.8, 80, False, "complete", True, 3),
        ("Hi, where is the SSO setup? Thanks", 0.15, 0.45, 1.5, 85, False, "complete", True, 3),
        ("Pricing in Mars dollars?", 0.30, 0.60, 2.5, 70, False, "complete", True, 4),
        ("Crash?", 0.40, None, 3.0, 10, False, "error", False, 5),
        ("Old question", 0.9, 0.9, 9.0, 500, False, "complete", False, 45),  # outside 30 days
    ]
    answers = []
    for n, (question, retrieval, first, total, tokens, hit, status, declined, ago) in enumerate(specs):
        answers.append(
            answer(
                ana if n % 2 else ben,
                question=question,
                cites=[] if declined else [target],
                at=days_ago(ago),
                retrieval_time=retrieval,
                first_token_time=first,
                response_time=total,
                tokens_used=tokens,
                cache_hit=hit,
                status=status,
                declined=declined,
            )
        )
    rate(answers[0], ana, "up")
    rate(answers[0], ben, "down", "meh")
    rate(answers[1], ana, "up")
    rate(answers[2], ben, "down", "nothing found")
    rate(answers[7], ben, "down", "old")  # outside the period
    IndexingJob.objects.create(source_type="page", source_id=target.pk, status="indexed")
    IndexingJob.objects.create(
        source_type="document", source_id=99, status="failed", error="PDF is encrypted"
    )
    return {"answers": answers, "specs": specs}


def test_summary_equals_figures_computed_from_the_messages(traffic: dict[str, Any]) -> None:
    from chatbot.feedback.selectors import analytics_summary

    summary = analytics_summary()
    recent = [spec for spec in traffic["specs"] if spec[8] <= 30]
    complete = [spec for spec in recent if spec[6] == "complete"]
    assert summary["questions"] == summary["answers"] == len(recent) == 7
    assert sum(day["count"] for day in summary["questions_per_day"]) == 7
    assert len(summary["questions_per_day"]) in {30, 31}
    assert summary["feedback"] == {"up": 2, "down": 2, "satisfaction": 0.5}
    for key, index in (("retrieval", 1), ("first_token", 2), ("total", 3)):
        values = [spec[index] for spec in complete if spec[index] is not None]
        figures = summary["latency"][key]
        assert figures["count"] == len(values)
        for q in (50, 95, 99):
            assert figures[f"p{q}"] == pytest.approx(float(np.percentile(values, q)))
    assert summary["tokens"]["total"] == sum(spec[4] for spec in recent)
    assert summary["cache_hit_rate"] == pytest.approx(1 / 7)
    assert summary["error_rate"] == pytest.approx(1 / 7)
    assert summary["declined_rate"] == pytest.approx(4 / 7)
    gaps = summary["content_gaps"]
    assert gaps[0]["question"] == "where is the sso setup" and gaps[0]["count"] == 3
    assert [(gap["question"], gap["count"]) for gap in gaps[1:]] == [("pricing in mars dollars", 1)]
    assert summary["indexing"]["failed"] == 1 and summary["indexing"]["by_status"]["indexed"] == 1
    assert summary["indexing"]["recent_failures"][0]["error"] == "PDF is encrypted"
    rated = [
        (d["up"], d["down"], d["satisfaction"])
        for d in summary["satisfaction_per_day"]
        if d["up"] or d["down"]
    ]
    assert rated == [(0, 1, 0.0), (2, 1, pytest.approx(2 / 3))]  # two days ago, yesterday


def test_dashboard_renders_the_figures_and_charts(client: Any, traffic: dict[str, Any]) -> None:
    client.force_login(chat_log_reader())
    response = client.get(DASHBOARD)
    html = response.content.decode()
    assert response.status_code == 200
    figures = dict(re.findall(r'data-figure="([\w-]+)">([^<]*)<', html))
    assert figures["questions"] == "7"
    assert figures["satisfaction"] == "50%"
    assert figures["error-rate"] == "14%"
    assert html.count('<svg class="w-chart"') == 4
    assert "Where is the SSO setup?" in html and "PDF is encrypted" in html
    # The failure's time reads as a date and a time, not run together ("2026-12-0723:59").
    assert re.search(r"PDF is encrypted</td><td>\d{4}-\d{2}-\d{2} \d{2}:\d{2}</td>", html), html
    assert client.get(DASHBOARD, {"days": "90"}).content.decode().count("Old question") == 0  # not declined
    ninety = dict(
        re.findall(r'data-figure="([\w-]+)">([^<]*)<', client.get(DASHBOARD, {"days": "90"}).content.decode())
    )
    assert ninety["questions"] == "8"


def test_editors_without_the_chat_log_permission_get_403(client: Any, traffic: dict[str, Any]) -> None:
    client.force_login(editor())
    assert client.get(DASHBOARD).status_code == 403
    for model in ("chatsession", "message", "messagefeedback"):
        assert client.get(f"/admin/chatbot/{model}/").status_code == 403
    message = traffic["answers"][0]
    assert client.get(f"/admin/chatbot/message/inspect/{message.pk}/").status_code == 403
    assert b"chat-analytics" not in client.get("/admin/").content


def test_conversations_are_read_only_and_searchable(client: Any, traffic: dict[str, Any]) -> None:
    client.force_login(chat_log_reader())
    listing = client.get("/admin/chatbot/message/", {"q": "Mars dollars"})
    assert listing.status_code == 200
    assert b"Pricing in Mars dollars?" in listing.content and b"How do I install?" not in listing.content
    message = traffic["answers"][0]
    inspect = client.get(f"/admin/chatbot/message/inspect/{message.pk}/")
    assert inspect.status_code == 200 and b"The answer [1]." in inspect.content
    assert client.get("/admin/chatbot/messagefeedback/", {"q": "nothing found"}).status_code == 200
    assert client.get("/admin/chatbot/chatsession/").status_code == 200
    for action in ("create/", f"edit/{message.pk}/", f"delete/{message.pk}/"):
        assert client.get(f"/admin/chatbot/message/{action}").status_code == 404
    assert b"chat-analytics" in client.get("/admin/").content


def test_conversations_feedback_shows_the_question_not_an_id(client: Any, traffic: dict[str, Any]) -> None:
    from chatbot.models import MessageFeedback

    client.force_login(chat_log_reader())
    listing = client.get("/admin/chatbot/messagefeedback/").content.decode()
    assert "Where is the SSO setup?" in listing and "nothing found" in listing
    feedback = MessageFeedback.objects.get(comment="nothing found")
    assert f"on {feedback.message_id}" not in listing
    inspect = client.get(f"/admin/chatbot/messagefeedback/inspect/{feedback.pk}/").content.decode()
    assert re.search(r"Question\s*</dt>\s*<dd>\s*Where is the SSO setup\?", inspect), inspect


def test_question_normalisation() -> None:
    from chatbot.feedback.selectors import question_normalize

    assert question_normalize("  Hi, WHERE is the SSO   setup?? Thanks!") == "where is the sso setup"
    assert question_normalize("Mail bob@example.com about it") == "mail email about it"
    assert question_normalize("Version 8.0?") == "version 8 0"


def test_a_content_gap_names_the_page_the_search_came_closest_to(client: Any, traffic: Any) -> None:
    """A decline saves the pages it came closest to (Message.related); the gap shows the newest decline's
    first one, as the page is now, with its admin link: often the page to extend rather than write anew."""
    from chatbot.feedback.report import (
        improvement_report_build,
        improvement_report_csv,
        improvement_report_markdown,
    )
    from chatbot.feedback.selectors import analytics_summary
    from chatbot.models import Message, MessageSource

    target = {"source_id": MessageSource.objects.get(message=traffic["answers"][0]).source_id}
    place = {"source_type": "page", "source_id": target["source_id"], "title": "Old", "section": "Intro"}
    newest_sso, older_sso = traffic["answers"][2], traffic["answers"][3]
    Message.objects.filter(pk=newest_sso.pk).update(related=[{**place, "url": "/install/#intro"}])
    Message.objects.filter(pk=older_sso.pk).update(related=[{**place, "source_id": 10**9}])

    gaps = analytics_summary()["content_gaps"]
    edit_url = f"/admin/pages/{target['source_id']}/edit/"
    assert gaps[0]["question"] == "where is the sso setup"
    # The page's current title, not the one saved with the decline, and its admin link; not its section
    # or anchor, which are the page's content (the per-page rows give titles only too).
    key = f"page:{target['source_id']}"
    assert gaps[0]["closest"] == {"key": key, "title": "Install", "edit_url": edit_url}
    assert gaps[1]["closest"] is None, "an off-topic decline came close to nothing"

    client.force_login(chat_log_reader())
    html = client.get(DASHBOARD).content.decode()
    assert f'<a href="{edit_url}">Install</a></td>' in html and "Intro" not in html

    report = improvement_report_build(since=days_ago(30))
    markdown = improvement_report_markdown(report)
    assert "| Install |" in markdown and "Intro" not in markdown
    assert "or extend the page the search came closest to, Install" in markdown
    assert f",page:{target['source_id']}," in improvement_report_csv(report)

    Message.objects.filter(pk=newest_sso.pk).update(related=[{**place, "source_id": 10**9}])
    assert analytics_summary()["content_gaps"][0]["closest"] is None, "a page deleted since is not offered"
