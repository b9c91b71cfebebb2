"""Server-Sent Events over ASGI: typed answer events in, `text/event-stream` bytes out.

The view validates and rate-limits first and only then returns `sse_response(...)`. The body is an ASYNC
generator (Django buffers a sync iterator under ASGI) that:

- sends a comment at once, so the first byte leaves before retrieval has finished;
- frames each `StreamEvent` as ``id: <n>`` / ``event: <type>`` / ``data: <json>`` with increasing ids,
  the payload in its public shape (`chatbot.api.shapes.event_data`: `"type"` in every payload);
- leaves out `source` events (and the `complete` event's sources) when the client asked for none;
- merges the answer with a timer: a ``: ping`` comment whenever the answer stays idle for the heartbeat
  interval (the next event is awaited in a task, so a timeout never cancels the answer itself);
- turns an exception raised by the answer into one ``error`` event;
- closes the answer generator when the client goes away (Django cancels the response task), so the
  service can save what it had as a `partial` message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from django.http import StreamingHttpResponse

from chatbot.events import StreamEvent, error_event
from datacollection.db import BUSY_MESSAGE, database_busy
from search.errors import KnowledgeError

from .shapes import event_data

logger = logging.getLogger(__name__)

OPEN_COMMENT = b": stream open\n\n"
PING_COMMENT = b": ping\n\n"

# Characters that could end a <script> block or start markup if a client ever writes the payload into a
# page without parsing it; JSON parsers read the escapes back as the same characters.
_HTML_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}


def sse_data(data: Any) -> str:
    """One-line JSON: json.dumps escapes newlines, so a payload can never start a new SSE field."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).translate(_HTML_ESCAPES)


def sse_event(event_id: int, event: StreamEvent, *, include_sources: bool = True) -> bytes:
    data = sse_data(event_data(event, include_sources=include_sources))
    return f"id: {event_id}\nevent: {event.type}\ndata: {data}\n\n".encode()


def _error_event(error: BaseException) -> StreamEvent:
    if isinstance(error, KnowledgeError):
        code, message = error.code, error.message
    elif database_busy(error):
        code, message = "database_busy", BUSY_MESSAGE
    else:
        code, message = "internal_error", "The answer failed unexpectedly."
    return error_event(code=code, message=message)


async def _next_event(answer: AsyncIterator[StreamEvent]) -> StreamEvent:
    return await anext(answer)


async def event_stream(
    answer: AsyncIterator[StreamEvent], *, heartbeat: float, include_sources: bool = True
) -> AsyncGenerator[bytes, None]:
    """SSE bytes for an answer stream; see the module docstring for what is sent when."""
    yield OPEN_COMMENT
    event_id = 0
    pending: asyncio.Task[StreamEvent] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(_next_event(answer))
            done, _ = await asyncio.wait({pending}, timeout=heartbeat)
            if not done:
                yield PING_COMMENT
                continue
            task, pending = pending, None
            try:
                event = task.result()
            except StopAsyncIteration:
                return
            except Exception as e:  # any failure of the answer becomes one error event
                logger.exception("Answer stream failed")
                event_id += 1
                yield sse_event(event_id, _error_event(e))
                return
            if event.type == "source" and not include_sources:
                continue
            event_id += 1
            yield sse_event(event_id, event, include_sources=include_sources)
            if event.type in ("complete", "error"):
                return
    finally:
        await _close(answer, pending)


async def _close(answer: AsyncIterator[StreamEvent], pending: asyncio.Task[StreamEvent] | None) -> None:
    """Stop the answer: a running step is cancelled (the service sees CancelledError), a suspended one is
    closed (GeneratorExit); either way it saves its partial message before this returns."""
    if pending is not None and not pending.done():
        pending.cancel()
    if pending is not None:
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Exception):
            await pending
    aclose = getattr(answer, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # closing must not mask why the stream ended
            logger.exception("Closing the answer stream failed")


def sse_response(
    answer: AsyncIterator[StreamEvent], *, heartbeat: float, include_sources: bool = True
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        event_stream(answer, heartbeat=heartbeat, include_sources=include_sources),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on instead of buffering the body
    return response
