"""A user's chat sessions as others read them: a list of recent sessions, and one session as Markdown
with its citations or as JSON (the MCP resources, and session export)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from chatbot.api.shapes import answer_quoted, public_sources
from chatbot.models import ChatSession, Message

RECENT_SESSIONS = 20


def sessions_recent(user: Any, *, limit: int = RECENT_SESSIONS) -> list[dict[str, Any]]:
    """The user's most recently used sessions, newest first."""
    return [
        {
            "id": str(session.uuid),
            "title": session.title or "New chat",
            "created_at": session.created_at.isoformat(),
            "updated_at": session.updated_at.isoformat(),
        }
        for session in ChatSession.objects.filter(user=user).order_by("-updated_at")[:limit]
    ]


def session_of(user: Any, session_id: str) -> ChatSession | None:
    """The user's own session with this id; None for a malformed id, another user's or a missing one."""
    try:
        return ChatSession.objects.get(uuid=session_id, user=user)
    except (ChatSession.DoesNotExist, ValidationError):  # a malformed id is a ValidationError
        return None


def session_json(session: ChatSession) -> dict[str, Any]:
    messages = Message.objects.filter(session=session).order_by("created_at", "id")
    return {
        "id": str(session.uuid),
        "title": session.title,
        "created_at": session.created_at.isoformat(),
        "updated_at": session.updated_at.isoformat(),
        "messages": [
            {
                "id": str(message.uuid),
                "role": message.role,
                "content": message.content,
                "status": message.status,
                "declined": message.declined,
                "quoted": message.role == Message.Role.ASSISTANT and answer_quoted(message.model),
                "created_at": message.created_at.isoformat(),
                "sources": public_sources(message.sources if isinstance(message.sources, list) else []),
            }
            for message in messages
        ],
    }


def session_markdown(session: ChatSession) -> str:
    """The conversation as Markdown: each question, each answer with its numbered sources as links."""
    data = session_json(session)
    lines = [f"# {data['title'] or 'Chat'}", "", f"Started {data['created_at']}.", ""]
    for message in data["messages"]:
        if message["role"] == Message.Role.USER:
            lines += ["## Question", "", message["content"], ""]
            continue
        lines += ["## Answer", "", message["content"] or f"({message['status']})", ""]
        if message["sources"]:
            lines += ["Sources:", ""]
            for source in message["sources"]:
                title = source.get("title") or source["doc_id"]
                if source.get("section_title"):
                    title = f"{title} › {source['section_title']}"
                link = f"[{title}]({source['url']})" if source.get("url") else title
                lines.append(f"{source.get('number', '-')}. {link}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
