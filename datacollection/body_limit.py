"""Refuse an oversized request body while it arrives, before Django buffers it to disk.

Django reads a whole request body (to a temporary file) before any view or upload handler runs, so a
26 MB upload would be received in full only to be refused. This ASGI wrapper answers 413 as soon as the
declared Content-Length, or the bytes counted so far, pass the limit.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Any  # Django's ASGIHandler and any ASGI 3 callable


class RequestBodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: Callable[[], int]) -> None:
        self.app = app
        self.max_bytes = max_bytes  # read per request, so settings changes (and tests) apply

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes()
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        received = 0
        refused = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not refused:
                    refused = True
                    await self._refuse(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:  # the 413 has been sent: whatever the app says next goes nowhere
                await send(message)

        await self.app(scope, counted_receive, guarded_send)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        message = f"The request is larger than the {limit // (1024 * 1024)} MB limit."
        body = json.dumps({"error": {"code": "too_large", "message": message}}).encode()
        await send_whole_response(send, 413, body, content_type=b"application/json")


async def send_whole_response(
    send: Send, status: int, body: bytes, *, content_type: bytes, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """A complete response sent by an ASGI wrapper itself (a refusal before or instead of the app)."""
    start = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})
