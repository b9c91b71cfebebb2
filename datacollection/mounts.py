"""ASGI apps served beside Django under a path prefix (settings.ASGI_MOUNTS), with their lifespan.

A mounted app gets every request whose path is its prefix or lies under it, unchanged; everything else
goes to Django. An app may define `startup()` and `shutdown()` coroutines (the MCP server starts and
stops its session manager there): they run on the server's lifespan events, which this dispatcher answers
itself because Django's ASGI handler refuses the lifespan protocol. The apps are named by dotted path, so
this bottom layer imports none of the apps above it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Any


class PathDispatcher:
    def __init__(self, default: ASGIApp, *, mounts: Mapping[str, str | ASGIApp]) -> None:
        self.default = default
        self.mounts = [
            (prefix.rstrip("/"), import_string(app) if isinstance(app, str) else app)
            for prefix, app in mounts.items()
        ]

    def app_for(self, path: str) -> ASGIApp:
        for prefix, app in self.mounts:
            if path == prefix or path.startswith(prefix + "/"):
                return app
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.app_for(scope.get("path", ""))(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for _, app in self.mounts:
                        if hasattr(app, "startup"):
                            await app.startup()
                except Exception as e:  # the server must not start half-way: it reports and exits
                    logger.exception("a mounted ASGI app failed to start")
                    await send({"type": "lifespan.startup.failed", "message": f"{type(e).__name__}: {e}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for _, app in reversed(self.mounts):
                    if hasattr(app, "shutdown"):
                        await app.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
