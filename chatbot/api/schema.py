"""OpenAPI documentation of the SSE endpoint: OpenAPI has no type for an event stream, so the response is a
`text/event-stream` string whose events are described here: in the description, in the example, and as
JSON Schemas of the `data:` payloads under the schema's `x-sse-data` (one per `type`, `oneOf`). The
payloads are those of `chatbot.api.shapes.event_data`; tests/chatbot/test_api_contract.py checks every
payload a real stream sends against these schemas."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample

STREAM_DESCRIPTION = """\
Validates the question and checks the rate limit first (errors are JSON with a 4xx/5xx status), then
answers `200 text/event-stream`. The request is `{"message": str, "include_sources": bool}` (`content` is
accepted as the older name of `message`; `include_sources` defaults to true).

Every `data:` line is one JSON object whose `"type"` says what it is, so a client may read only the
`data:` lines. Each event is framed as

    id: <increasing integer>
    event: <type>
    data: {"type": "<type>", ...}

(the `event:` line repeats the type for EventSource clients, `id:` numbers the events). The stream
starts with a comment line (`: stream open`) sent at once; `: ping` comments follow whenever the answer
is idle (at least every `CHATBOT_SSE_HEARTBEAT` seconds).

| type | data |
|---|---|
| `token` | `{"type", "content": str, "message_id": str}`: the next piece of the answer |
| `source` | `{"type", "doc_id": str, "title": str, "excerpt": str, "url": str, "anchor": str, \
"page_number": int or null, "number": int, "source_type": "page" or "document", "source_id": int, \
"chunk_id": str, "chunk_index": int or null, "section": str, "section_title": str, \
"relevance_score": float or null}`: one per cited source, after the tokens; none with \
`include_sources: false` |
| `complete` | `{"type", "message_id": str, "tokens": int, "response_time": float, "content": str, \
"sources": [source, ...], "status": "complete", "tokens_used": int, "model": str, "declined": bool, \
"quoted": bool, "quality": {"score", "groundedness", "retrieval", "coverage"} or null, "related": \
[{"doc_id", "title", "section", "section_title", "url", "anchor", "page_number", "source_type", \
"source_id"}, ...]}`: the last event (`sources` and `related` are empty with `include_sources: false`; \
`tokens` = `tokens_used`; `quality` is null for a decline; `related` lists, on a decline only, up to \
three pages or files retrieval found closest, which the answer could not quote from) |
| `error` | `{"type", "code": str, "message": str, "message_id": str or null, "retry_after": int or \
null}`: the last event |

`doc_id` is the source's key (`page:12`, `document:3`: the form of a session's `settings.scope`);
`section_title` = `section`. JSON strings escape `<`, `>` and `&` as `\\u003c`, `\\u003e`, `\\u0026`.
Closing the connection stops the answer; what was generated is saved with status `partial`.
"""

SSE_EXAMPLE = (
    ": stream open\n\n"
    "id: 1\nevent: token\n"
    'data: {"type": "token", "content": "To", "message_id": "7d0c…"}\n\n'
    "id: 2\nevent: token\n"
    'data: {"type": "token", "content": " configure", "message_id": "7d0c…"}\n\n'
    ": ping\n\n"
    "id: 3\nevent: source\n"
    'data: {"type": "source", "doc_id": "document:3", "title": "Setup Guide", "excerpt": "…", '
    '"url": "/knowledge/documents/3/#audio", "anchor": "audio", "page_number": 2, "number": 1, '
    '"source_type": "document", "source_id": 3, "chunk_id": "…", "chunk_index": 4, "section": "Audio", '
    '"section_title": "Audio", "relevance_score": 0.81}\n\n'
    "id: 4\nevent: complete\n"
    'data: {"type": "complete", "message_id": "7d0c…", "tokens": 150, "response_time": 1.92, '
    '"content": "To configure …", "sources": […], "status": "complete", "tokens_used": 150, '
    '"model": "extractive", "declined": false}\n\n'
)

STREAM_REQUEST_EXAMPLES = [
    OpenApiExample(
        "Ask with sources",
        value={"message": "How do I configure audio processing?", "include_sources": True},
        request_only=True,
    ),
]

_NULLABLE_INT: dict[str, Any] = {"type": "integer", "nullable": True}
_NULLABLE_STR: dict[str, Any] = {"type": "string", "nullable": True}

SOURCE_FIELDS: dict[str, Any] = {
    "doc_id": {"type": "string", "description": "The source's key: 'page:12' or 'document:3'."},
    "title": {"type": "string"},
    "excerpt": {"type": "string"},
    "url": {"type": "string"},
    "anchor": {"type": "string"},
    "page_number": _NULLABLE_INT,
    "number": {"type": "integer", "description": "The [n] marker the answer cites it with."},
    "source_type": {"type": "string", "enum": ["page", "document"]},
    "source_id": {"type": "integer"},
    "chunk_id": {"type": "string"},
    "chunk_index": _NULLABLE_INT,
    "section": {"type": "string"},
    "section_title": {"type": "string"},
    "relevance_score": {"type": "number", "nullable": True},
}
_SOURCE_REQUIRED = ["doc_id", "title", "excerpt", "url", "anchor", "page_number", "number", "source_type"]
_PLACE_REQUIRED = ["doc_id", "title", "url", "source_type", "source_id"]
PLACE_FIELDS: dict[str, Any] = {
    key: SOURCE_FIELDS[key]
    for key in (
        "doc_id",
        "title",
        "url",
        "anchor",
        "page_number",
        "source_type",
        "source_id",
        "section",
        "section_title",
    )
}


def _event(kind: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "title": f"{kind} event",
        "type": "object",
        "properties": {"type": {"type": "string", "enum": [kind]}, **properties},
        "required": ["type", *required],
    }


SSE_EVENT_SCHEMAS: dict[str, dict[str, Any]] = {
    "token": _event(
        "token", {"content": {"type": "string"}, "message_id": {"type": "string"}}, ["content", "message_id"]
    ),
    "source": _event("source", SOURCE_FIELDS, _SOURCE_REQUIRED),
    "complete": _event(
        "complete",
        {
            "message_id": {"type": "string"},
            "tokens": {"type": "integer", "description": "The same as tokens_used."},
            "response_time": {"type": "number", "description": "Seconds until the answer completed."},
            "content": {"type": "string"},
            "sources": {
                "type": "array",
                "items": {"type": "object", "properties": SOURCE_FIELDS, "required": _SOURCE_REQUIRED},
            },
            "status": {"type": "string", "enum": ["complete", "partial"]},
            "tokens_used": {"type": "integer"},
            "model": {"type": "string"},
            "declined": {"type": "boolean"},
            "quoted": {
                "type": "boolean",
                "description": "True when no generating model wrote the answer (quoted from its sources).",
            },
            "quality": {
                "type": "object",
                "nullable": True,
                "description": "The answer's quality score and components, each 0..1; null for a decline.",
                "properties": {
                    k: {"type": "number"} for k in ("score", "groundedness", "retrieval", "coverage")
                },
            },
            "related": {
                "type": "array",
                "description": "On a decline: up to three pages or files retrieval found closest, which the "
                "answer could not quote from; otherwise empty.",
                "items": {"type": "object", "properties": PLACE_FIELDS, "required": _PLACE_REQUIRED},
            },
        },
        ["message_id", "tokens", "response_time", "content", "sources", "status", "tokens_used"],
    ),
    "error": _event(
        "error",
        {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "message_id": _NULLABLE_STR,
            "retry_after": _NULLABLE_INT,
        },
        ["code", "message", "message_id"],
    ),
}

SSE_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": "A stream of Server-Sent Events: token*, source*, then complete or error. Every `data:` "
    "line is one JSON object of the schemas in `x-sse-data`, told apart by its `type`.",
    "example": SSE_EXAMPLE,
    "x-sse-data": {"oneOf": list(SSE_EVENT_SCHEMAS.values())},
}
