"""Exports of chat data: a user's own session (Markdown with citations, or JSON), feedback with the
passages the rated answers cited (for editors), and every session of a period (for operators, audited in
Wagtail's log as `chatbot.export.sessions`)."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Protocol

from django.utils.translation import gettext_lazy as _
from wagtail.log_actions import LogActionRegistry, LogFormatter
from wagtail.log_actions import log as log_action

from chatbot.feedback.selectors import feedback_with_question
from chatbot.models import ChatSession, MessageFeedback
from chatbot.transcripts import session_json, session_markdown
from datacollection.spreadsheets import row_neutralise
from knowledgebase.selectors import sources_visible_to
from search.backends import get_search_backend
from search.values import Principal

logger = logging.getLogger(__name__)

SESSIONS_EXPORT = "chatbot.export.sessions"


class SessionsExportFormatter(LogFormatter):
    label = _("Chat: sessions exported")

    def format_message(self, log_entry: Any) -> str:
        return f"Exported chat sessions: {(log_entry.data or {}).get('detail', '')}"


def register_export_log_actions(actions: LogActionRegistry) -> None:
    """The `register_log_actions` hook (chatbot/wagtail_hooks.py)."""
    actions.register_action(SESSIONS_EXPORT)(SessionsExportFormatter)


HIDDEN_PASSAGE = "(a source you may not see)"
FEEDBACK_COLUMNS = ["created_at", "rating", "comment", "question", "answer", "sources"]


def session_export(session: ChatSession, *, fmt: str) -> tuple[str, str, str]:
    """(body, content type, file name) of one session as Markdown or JSON."""
    stem = f"chat-{session.uuid}"
    if fmt == "json":
        return json.dumps(session_json(session), indent=2), "application/json", f"{stem}.json"
    return session_markdown(session), "text/markdown; charset=utf-8", f"{stem}.md"


def _passages(chunk_ids: list[str]) -> dict[str, str]:
    """The indexed text of these chunks (a chunk re-indexed since has a new id: absent)."""
    if not chunk_ids:
        return {}
    return {chunk.chunk_id: chunk.text for chunk in get_search_backend().get_chunks(chunk_ids)}


def feedback_rows(*, since: datetime, viewer: Any) -> list[dict[str, Any]]:
    """Feedback given since `since`, newest first, each with its question, the rated answer and the
    passages it cited. A cited passage the exporting `viewer` may not see themselves is withheld."""
    feedback = feedback_with_question(
        MessageFeedback.objects.filter(created_at__gte=since).select_related("message")
    ).order_by("-created_at")
    items = list(feedback)
    cited = [s for f in items for s in (f.message.sources or []) if isinstance(s, dict)]
    keys = {(str(s.get("source_type")), int(s.get("source_id", 0))) for s in cited}
    visible = sources_visible_to(keys, Principal.from_user(viewer)) if keys else set()
    texts = _passages([str(s["chunk_id"]) for s in cited if s.get("chunk_id")])
    rows = []
    for item in items:
        sources = []
        for source in item.message.sources or []:
            key = (str(source.get("source_type")), int(source.get("source_id", 0)))
            shown = key in visible
            sources.append(
                {
                    "number": source.get("number"),
                    "doc_id": f"{key[0]}:{key[1]}",
                    "title": source.get("title", "") if shown else "",
                    "url": source.get("url", "") if shown else "",
                    "passage": texts.get(str(source.get("chunk_id")), source.get("excerpt", ""))
                    if shown
                    else HIDDEN_PASSAGE,
                }
            )
        rows.append(
            {
                "created_at": item.created_at.isoformat(),
                "rating": item.rating,
                "comment": item.comment,
                "question": getattr(item, "question", "") or "",
                "answer": item.message.content,
                "sources": sources,
            }
        )
    return rows


def feedback_csv(rows: list[dict[str, Any]]) -> str:
    """One line per feedback; the cited passages in one cell as "[n] title (url): passage" paragraphs.
    Every cell is neutralised against spreadsheet formulas."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FEEDBACK_COLUMNS)
    for row in rows:
        cited = "\n\n".join(
            f"[{s['number']}] {s['title'] or s['doc_id']} ({s['url']}): {s['passage']}"
            for s in row["sources"]
        )
        writer.writerow(row_neutralise([*(row[c] for c in FEEDBACK_COLUMNS[:-1]), cited]))
    return out.getvalue()


def sessions_in_period(*, since: datetime, until: datetime) -> Iterator[ChatSession]:
    return (
        ChatSession.objects.filter(created_at__gte=since, created_at__lt=until)
        .select_related("user")
        .order_by("created_at", "id")
        .iterator(chunk_size=200)
    )


class Writer(Protocol):
    def write(self, text: str, /) -> Any: ...


def sessions_export(out: Writer, *, since: datetime, until: datetime, operator: Any, reason: str) -> int:
    """Every session started in [since, until) as JSON Lines (one session with its user and messages per
    line) into `out`; recorded in Wagtail's log (Reports › Site history) against the operator with the
    period, the count and the reason. Returns the count."""
    count = 0
    for session in sessions_in_period(since=since, until=until):
        line = {
            **session_json(session),
            "user": {"id": session.user_id, "username": session.user.get_username()},
        }
        out.write(json.dumps(line) + "\n")
        count += 1
    period = f"{since.isoformat()} – {until.isoformat()}"
    log_action(
        operator,
        SESSIONS_EXPORT,
        user=operator,
        data={"detail": f"{count} sessions, {period}: {reason}", "count": count, "reason": reason},
    )
    logger.warning("chat sessions exported by %s: %d sessions, %s", operator.get_username(), count, period)
    return count
