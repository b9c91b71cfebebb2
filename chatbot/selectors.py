"""Reads of chat data used by the answer service."""

from __future__ import annotations

from chatbot.models import ChatSession, Message


def session_history(
    session: ChatSession, *, turns: int, before: Message | None = None, max_chars: int = 2000
) -> list[dict[str, str]]:
    """The last `turns` question/answer pairs of a session as [{role, content}], oldest first.

    Only complete answers count (an error or an interrupted answer is no context); `before` excludes the
    message being answered and everything after it. Long messages are cut to `max_chars`."""
    if turns <= 0:
        return []
    messages = Message.objects.filter(session=session).exclude(
        role=Message.Role.ASSISTANT, status__in=[Message.Status.ERROR, Message.Status.PARTIAL]
    )
    if before is not None:
        messages = messages.filter(created_at__lte=before.created_at).exclude(pk__gte=before.pk)
    recent = list(messages.order_by("-created_at", "-id").values("role", "content")[: turns * 2])
    recent.reverse()
    return [
        {"role": str(m["role"]), "content": str(m["content"])[:max_chars]} for m in recent if m["content"]
    ]
