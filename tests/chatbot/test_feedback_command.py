"""The improvement report: `manage.py feedback_report` and the beat task writing it under PRIVATE_ROOT."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from tests.chatbot.test_feedback_data import answer, days_ago, page, rate, section
from tests.factories import user

pytestmark = pytest.mark.django_db


@pytest.fixture
def rated() -> dict[str, Any]:
    docs = section()
    install, upgrade = page(docs, "Install"), page(docs, "Upgrade")
    ana = user("ana")
    rate(answer(ana, question="Install?", cites=[install], at=days_ago(1)), ana, "down", "No pip command")
    rate(
        answer(ana, question="Install again?", cites=[install], at=days_ago(2)), user("ben"), "down", "Wrong"
    )
    rate(answer(ana, question="Upgrade?", cites=[upgrade], at=days_ago(1)), ana, "up")
    rate(answer(ana, question="Old?", cites=[upgrade], at=days_ago(60)), ana, "down", "ancient")
    for n in range(3):
        answer(ana, question=f"How do I configure SAML{'?' * n}", declined=True, at=days_ago(n + 1))
    return {"install": install, "upgrade": upgrade}


def test_markdown_report(rated: dict[str, Any]) -> None:
    out = io.StringIO()
    call_command("feedback_report", "--since", "30d", stdout=out)
    text = out.getvalue()
    assert "| Install | Page | 2 | 0 | 2 | 2 | 0% |" in text
    assert "Upgrade" not in text.split("## Unanswered")[0]  # no 👎 within 30 days
    assert "| How do I configure SAML" in text and "| 3 |" in text
    assert "**Fix** Install" in text and 'e.g. "Wrong"' in text  # the newest comment
    assert "**Write a page answering** How do I configure SAML" in text and "asked 3 times" in text

    older = io.StringIO()
    call_command("feedback_report", "--since", "9w", stdout=older)
    assert "| Upgrade | Page | 2 | 1 | 1 | 1 | 50% |" in older.getvalue()


def test_csv_report(rated: dict[str, Any]) -> None:
    out = io.StringIO()
    call_command("feedback_report", "--since", "30d", "--format", "csv", stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    worst = [row for row in rows if row["section"] == "worst"]
    assert [(r["title"], r["down"], r["open_down"]) for r in worst] == [("Install", "2", "2")]
    gaps = [row for row in rows if row["section"] == "gap"]
    assert gaps[0]["times_asked"] == "3"
    assert {row["kind"] for row in rows if row["section"] == "suggestion"} == {"fix", "write"}


def test_bad_duration_is_an_error() -> None:
    with pytest.raises(CommandError, match="not a duration"):
        call_command("feedback_report", "--since", "yesterday")


def test_beat_task_writes_both_formats(rated: dict[str, Any], tmp_path: Path) -> None:
    from django.conf import settings

    from chatbot.tasks import feedback_report_write_task

    assert settings.CELERY_BEAT_SCHEDULE["chatbot-feedback-report"]["task"] == feedback_report_write_task.name
    with override_settings(PRIVATE_ROOT=tmp_path):
        paths = [Path(p) for p in feedback_report_write_task(days=30)]
    assert [p.suffix for p in paths] == [".md", ".csv"]
    assert all(p.parent == tmp_path / "reports" for p in paths)
    assert "Install" in paths[0].read_text()
