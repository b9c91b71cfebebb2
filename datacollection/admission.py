"""Admission control at the edge of the ASGI application: at most REQUEST_CONCURRENCY requests of a
process run Django's synchronous code at once; the others wait in the event loop, first come first served,
holding no thread and no database connection.

Why (benchmarks/streams.py, one uvicorn worker on 2 cores, a pool of 20 connections): Django runs each
request's middleware and view in a thread of its own. With 500 streams opened at once, 500 threads shared
the interpreter, so a thread holding one of the 20 connections advanced at a five-hundredth of its pace
and held the connection for seconds; 270 of the 500 then found none free within DB_POOL_TIMEOUT and got
`database_busy`. Behind the gate the few running requests finish their short database work quickly.

A request takes its slot once its body has arrived (a slow upload waits without one) and leaves the gate
when its response starts (a stream's body is then sent from the event loop, each of the answer's own
database steps taking a connection only briefly) or when it ends. A request that waited
REQUEST_QUEUE_TIMEOUT seconds is answered 503 with Retry-After: busy, never a 500 or a hang.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Collection

from .body_limit import ASGIApp, Message, Receive, Scope, Send, send_whole_response
from .db import BUSY_MESSAGE, RETRY_AFTER_SECONDS
from .gates import loop_gate

logger = logging.getLogger(__name__)


class RequestGate:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: Callable[[], int],
        timeout: Callable[[], float],
        exempt: Collection[str] = (),
    ) -> None:
        self.app = app
        self.limit, self.timeout = limit, timeout  # read per request, so settings changes apply
        # Paths never queued: a health probe that waited behind a burst would get the process restarted.
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit()
        if scope["type"] != "http" or limit <= 0 or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        gate = loop_gate("requests", limit)
        entered = held = refused = False

        def release() -> None:
            nonlocal held
            if held:
                held = False
                gate.release()

        async def gated_receive() -> Message:
            nonlocal entered, held, refused
            message = await receive()
            if entered or message["type"] != "http.request" or message.get("more_body", False):
                return message
            entered = True
            try:
                async with asyncio.timeout(self.timeout()):
                    await gate.acquire()
            except TimeoutError:
                logger.warning("503 busy: %s found none of %d request slots free", scope.get("path"), limit)
                refused = True
                await _refuse(scope, send)
                return {"type": "http.disconnect"}
            held = True
            return message

        async def gated_send(message: Message) -> None:
            if refused:
                return  # the 503 has been sent
            if message["type"] == "http.response.start":
                release()
            await send(message)

        try:
            await self.app(scope, gated_receive, gated_send)
        finally:
            release()


async def _refuse(scope: Scope, send: Send) -> None:
    """503 with Retry-After: the API's JSON error (`busy`), plain text elsewhere."""
    if str(scope.get("path", "")).startswith(("/api/", "/mcp")):
        body = json.dumps({"error": {"code": "busy", "message": BUSY_MESSAGE}}).encode()
        content_type = b"application/json"
    else:
        body, content_type = (BUSY_MESSAGE + "\n").encode(), b"text/plain; charset=utf-8"
    retry_after = [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())]
    await send_whole_response(send, 503, body, content_type=content_type, headers=retry_after)
