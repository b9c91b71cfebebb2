"""The improvement report: the worst-rated pages and documents, the questions the knowledge base could
not answer, and what to write or fix about them — as Markdown or CSV, for `manage.py feedback_report`
and the weekly beat task."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from chatbot.feedback.analytics import content_gaps
from chatbot.feedback.selectors import (
    SHOW_NEGATIVE,
    feedback_items_for_source,
    source_rollups,
    source_rollups_decorate,
)
from chatbot.models import Message
from chatbot.rag.quality import LOW_SCORE
from datacollection.encryption import file_encrypt
from datacollection.spreadsheets import row_neutralise

FORMATS = ("md", "csv")
_DURATION = re.compile(r"(\d+)\s*([dhw])")


@dataclass(frozen=True, kw_only=True)
class Suggestion:
    kind: str  # "fix" (an existing page or document) or "write" (a missing page)
    subject: str
    reason: str
    url: str = ""


@dataclass(frozen=True, kw_only=True)
class ImprovementReport:
    since: datetime
    until: datetime
    answers: int
    worst_sources: list[dict[str, Any]]
    content_gaps: list[dict[str, Any]]
    suggestions: list[Suggestion]


def duration_parse(text: str) -> timedelta:
    """ "30d", "12h", "2w" → a timedelta."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30d, 12h or 2w.")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(**{{"d": "days", "h": "hours", "w": "weeks"}[unit]: amount})


def improvement_report_build(
    *, since: datetime, until: datetime | None = None, limit: int = 20
) -> ImprovementReport:
    until = until or timezone.now()
    rows = source_rollups(since=since, until=until, show=SHOW_NEGATIVE)[:limit]
    worst = source_rollups_decorate(rows)
    for row in worst:
        items = feedback_items_for_source(
            row["source_type"], row["source_id"], since=since, until=until, limit=1
        )
        row["example_comment"] = items[0].comment if items else ""
        row["example_question"] = items[0].question if items else ""
    answers = Message.objects.filter(role=Message.Role.ASSISTANT, created_at__gte=since, created_at__lt=until)
    gaps = content_gaps(answers, limit=limit)
    return ImprovementReport(
        since=since,
        until=until,
        answers=answers.count(),
        worst_sources=worst,
        content_gaps=gaps,
        suggestions=_suggestions(worst, gaps),
    )


def _suggestions(worst: list[dict[str, Any]], gaps: list[dict[str, Any]]) -> list[Suggestion]:
    suggestions = []
    base = settings.WAGTAILADMIN_BASE_URL.rstrip("/")
    for row in worst:
        if row["open_down"] == 0 and row["low_quality"] == 0:
            continue
        rate = row["satisfaction"]
        reasons = []
        if row["open_down"]:
            reason = f"{row['open_down']} unresolved thumbs-down of {row['up'] + row['down']} ratings"
            reasons.append(reason + (f" ({rate:.0%} satisfied)" if rate is not None else ""))
        if row["low_quality"]:
            reasons.append(f"{row['low_quality']} of {row['answers']} answers scored low quality")
        reason = "; ".join(reasons)
        if row["example_comment"]:
            reason += f'; e.g. "{row["example_comment"][:120]}"'
        url = f"{base}{row['edit_url']}" if row["edit_url"] else ""
        suggestions.append(Suggestion(kind="fix", subject=row["title"], reason=reason, url=url))
    for gap in gaps:
        times = "once" if gap["count"] == 1 else f"{gap['count']} times"
        closest = gap.get("closest")
        reason = f"asked {times}, declined: not in the knowledge base"
        if closest:
            reason += f"; or extend the page the search came closest to, {closest['title']}"
        suggestions.append(
            Suggestion(
                kind="write",
                subject=gap["example"],
                reason=reason,
                url=f"{base}{closest['edit_url']}" if closest and closest.get("edit_url") else "",
            )
        )
    return suggestions


def improvement_report_markdown(report: ImprovementReport) -> str:
    lines = [
        "# Chat answers: improvement report",
        "",
        f"{report.since:%Y-%m-%d %H:%M} – {report.until:%Y-%m-%d %H:%M} ({report.answers} answers)",
        "",
        "## Worst-rated pages and documents",
        "",
    ]
    if report.worst_sources:
        lines += [
            "| Source | Kind | Answers | Helpful | Not helpful | Unresolved | Satisfaction |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for row in report.worst_sources:
            rate = "–" if row["satisfaction"] is None else f"{row['satisfaction']:.0%}"
            cells = [
                _md_cell(row["title"]),
                row["kind"],
                row["answers"],
                row["up"],
                row["down"],
                row["open_down"],
                rate,
            ]
            lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    else:
        lines.append("No thumbs-down or low-quality answers in this period.")
    lines += _low_quality_lines(report.worst_sources)
    lines += ["", "## Unanswered questions (content gaps)", ""]
    if report.content_gaps:
        lines += ["| Question | Times asked | Last asked | Closest page |", "|---|---:|---|---|"]
        for gap in report.content_gaps:
            nearest = _md_cell((gap.get("closest") or {}).get("title", "")) or "—"
            gap_cells = f"{_md_cell(gap['example'])} | {gap['count']} | {gap['last_asked'][:10]} | {nearest}"
            lines.append(f"| {gap_cells} |")
    else:
        lines.append("Every question found an answer in the knowledge base.")
    lines += ["", "## Suggested work", ""]
    for suggestion in report.suggestions:
        verb = "Fix" if suggestion.kind == "fix" else "Write a page answering"
        link = f" ({suggestion.url})" if suggestion.url else ""
        lines.append(f"- **{verb}** {_md_cell(suggestion.subject)}{link}: {suggestion.reason}")
    if not report.suggestions:
        lines.append("Nothing to do.")
    return "\n".join(lines) + "\n"


def _low_quality_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Sources whose answers scored low (chatbot.rag.quality), whether or not anyone rated them."""
    weak = [row for row in rows if row["low_quality"]]
    if not weak:
        return []
    lines = [
        "",
        f"## Low-quality answers (score below {LOW_SCORE:.2f})",
        "",
        "| Source | Kind | Answers | Low quality | Mean quality |",
        "|---|---|---:|---:|---:|",
    ]
    for row in weak:
        mean = "–" if row["mean_quality"] is None else f"{row['mean_quality']:.2f}"
        cells = [_md_cell(row["title"]), row["kind"], row["answers"], row["low_quality"], mean]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return lines


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


class _NeutralisingWriter:
    """csv.writer whose every cell goes through `cell_neutralise` (titles and questions are user text)."""

    def __init__(self, out: io.StringIO) -> None:
        self._writer = csv.writer(out)

    def writerow(self, row: list[Any]) -> None:
        self._writer.writerow(row_neutralise(row))


def improvement_report_csv(report: ImprovementReport) -> str:
    out = io.StringIO()
    writer = _NeutralisingWriter(out)
    writer.writerow(
        [
            "section",
            "kind",
            "title",
            "source",
            "answers",
            "up",
            "down",
            "open_down",
            "satisfaction",
            "times_asked",
            "suggestion",
        ]
    )
    for row in report.worst_sources:
        rate = "" if row["satisfaction"] is None else f"{row['satisfaction']:.4f}"
        figures = [row["answers"], row["up"], row["down"], row["open_down"], rate]
        writer.writerow(["worst", row["kind"], row["title"], row["key"], *figures, "", ""])
    for gap in report.content_gaps:
        closest = (gap.get("closest") or {}).get("key", "")
        writer.writerow(["gap", "question", gap["example"], closest, "", "", "", "", "", gap["count"], ""])
    for suggestion in report.suggestions:
        writer.writerow(
            [
                "suggestion",
                suggestion.kind,
                suggestion.subject,
                suggestion.url,
                "",
                "",
                "",
                "",
                "",
                "",
                suggestion.reason,
            ]
        )
    return out.getvalue()


def improvement_report_render(report: ImprovementReport, *, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    return improvement_report_markdown(report) if fmt == "md" else improvement_report_csv(report)


def improvement_report_write(report: ImprovementReport, *, fmt: str, directory: Path | None = None) -> Path:
    """Writes the report to PRIVATE_ROOT/<CHAT_FEEDBACK_REPORT_DIR>/feedback-<until>.<fmt>; returns the
    path. Private: it quotes other users' questions (Reports › Improvement reports serves it)."""
    directory = directory or Path(settings.PRIVATE_ROOT) / settings.CHAT_FEEDBACK_REPORT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"feedback-{report.until:%Y-%m-%d}.{fmt}"
    # Encrypted at rest like uploads when KNOWLEDGE_ENCRYPTION_KEYS is set (read back by report_files).
    path.write_bytes(file_encrypt(improvement_report_render(report, fmt=fmt).encode("utf-8")))
    return path
