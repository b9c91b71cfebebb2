"""Typed events of an answer stream. The SSE endpoint serialises them as `event: <type>` + `data: <json>`;
the non-streaming endpoint and `manage.py ask` consume the same events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

EventType = Literal["token", "source", "complete", "error"]


@dataclass(frozen=True, kw_only=True)
class StreamEvent:
    """
    Shapes of `data` per type:

    - token:    {"content": str, "message_id": str}
    - source:   {"number": int, "source_type": "page"|"document", "source_id": int, "chunk_id": str,
                 "title": str, "section": str, "url": str, "anchor": str, "page_number": int|None,
                 "excerpt": str}   (url already includes "#anchor" when there is one)
    - complete: {"message_id": str, "content": str, "sources": [source...], "status": "complete"|"partial",
                 "tokens_used": int, "response_time": float, "model": str, "declined": bool,
                 "related": [{"source_type", "source_id", "title", "section", "url", "anchor",
                              "page_number"}...] (a decline's closest pages and files, else []),
                 "quality": {"score", "groundedness", "retrieval", "coverage": float}|None}
    - error:    {"code": str, "message": str, "message_id": str|None, "retry_after": int|None}
    """

    type: EventType
    data: dict[str, Any] = field(default_factory=dict)


def error_event(*, code: str, message: str, message_id: str | None = None) -> StreamEvent:
    """The one builder of `error` events: a failed answer (chatbot.rag.run) and a stream that raised
    (chatbot.api.sse) end the same way."""
    return StreamEvent(
        type="error", data={"code": code, "message": message, "message_id": message_id, "retry_after": None}
    )
