"""OpenAPI documentation of the SSE endpoint: OpenAPI has no type for an event stream, so the response is a
`text/event-stream` string whose events are described here (shapes from `chatbot.events.StreamEvent`)."""

from __future__ import annotations

from typing import Any

STREAM_DESCRIPTION = """\
Validates the question and checks the rate limit first (errors are JSON with a 4xx/5xx status), then
answers `200 text/event-stream`. The stream starts with a comment line (`: stream open`) sent at once;
`: ping` comments follow whenever the answer is idle (at least every `CHATBOT_SSE_HEARTBEAT` seconds).
Each event is framed as

    id: <increasing integer>
    event: <type>
    data: <one line of JSON>

| event | data |
|---|---|
| `token` | `{"content": str, "message_id": str}` — the next piece of the answer |
| `source` | `{"number": int, "source_type": "page" or "document", "source_id": int, "chunk_id": str, \
"title": str, "section": str, "url": str, "anchor": str, "page_number": int or null, "excerpt": str}` |
| `complete` | `{"message_id": str, "content": str, "sources": [source, ...], "status": "complete" or \
"partial", "tokens_used": int, "response_time": float, "model": str, "declined": bool}` — the last event |
| `error` | `{"code": str, "message": str, "message_id": str or null, "retry_after": int or null}` — the \
last event |

JSON strings escape `<`, `>` and `&` as `\\u003c`, `\\u003e`, `\\u0026`. Closing the connection stops the
answer; what was generated is saved with status `partial`.
"""

SSE_EXAMPLE = (
    ": stream open\n\n"
    'id: 1\nevent: token\ndata: {"content":"Wagtail ","message_id":"0f8e…"}\n\n'
    'id: 2\nevent: token\ndata: {"content":"caches pages [1].","message_id":"0f8e…"}\n\n'
    ": ping\n\n"
    'id: 3\nevent: source\ndata: {"number":1,"source_type":"page","source_id":12,"title":"Caching",…}\n\n'
    'id: 4\nevent: complete\ndata: {"message_id":"0f8e…","status":"complete",…}\n\n'
)

SSE_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": "A stream of Server-Sent Events: token*, source*, then complete or error.",
    "example": SSE_EXAMPLE,
}
