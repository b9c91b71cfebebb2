"""The MCP endpoint as an ASGI app mounted at /mcp (settings.ASGI_MOUNTS, datacollection/mounts.py).

Each request is checked first (Host against ALLOWED_HOSTS, then the API token: 401 without a valid one);
the SDK's streamable HTTP app then answers it with the user in `scope["user"]`. The SDK's session manager
must run (`run()`, a task group) while requests are served: it starts on the server's lifespan startup
and stops on shutdown, or starts with the first request when the server sends no lifespan events
(`uvicorn --lifespan off`).

Stateless and JSON responses: every POST carries its own token and is answered on its own, so a session
id is never a credential, nothing is kept between requests, and any number of web processes can serve the
same client. Nothing here needs server-to-client messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.core import signals
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from .auth import bearer_key, host_allowed, refuse, token_user
from .server import mcp_server_build

PATH = "/mcp/"


class McpApplication:
    def __init__(self, *, build: Callable[[], MCPServer] = mcp_server_build) -> None:
        self._build = build
        self._http: Any = None
        self._runner: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None

    async def startup(self) -> None:
        await self._running()

    async def shutdown(self) -> None:
        if self._runner is None or self._stop is None:
            return
        self._stop.set()
        await self._runner

    async def _running(self) -> Any:
        """The SDK's Starlette app, its session manager running (started once, on this event loop)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._runner is None or self._runner.done():  # not started, or stopped
                server = self._build()
                # Host is checked against ALLOWED_HOSTS above, and a page rebinding DNS has no token.
                self._http = server.streamable_http_app(
                    streamable_http_path=PATH,
                    stateless_http=True,
                    json_response=True,
                    transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
                )
                self._stop = asyncio.Event()
                started = asyncio.Event()
                self._runner = asyncio.create_task(self._run(server, started, self._stop))
                waiter = asyncio.create_task(started.wait())
                await asyncio.wait({self._runner, waiter}, return_when=asyncio.FIRST_COMPLETED)
                if self._runner.done():  # it failed to start: say why, to this caller and the next
                    waiter.cancel()
                    self._runner.result()
        return self._http

    @staticmethod
    async def _run(server: MCPServer, started: asyncio.Event, stop: asyncio.Event) -> None:
        async with server.session_manager.run():
            started.set()
            await stop.wait()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        # Django's request signals, as its own handler sends them: database connections that died or
        # outlived CONN_MAX_AGE are closed before and after.
        await signals.request_started.asend(sender=self.__class__, scope=scope)
        try:
            await self._respond(scope, receive, send)
        finally:
            await signals.request_finished.asend(sender=self.__class__)

    async def _respond(self, scope: Any, receive: Any, send: Any) -> None:
        headers = list(scope.get("headers") or [])
        if not host_allowed(headers):
            await refuse(send, status=400, code="bad_host", message="This host is not served here.")
            return
        user = await sync_to_async(token_user)(bearer_key(headers))
        if user is None:
            await refuse(
                send,
                status=401,
                code="not_authenticated",
                message="Send a valid API token: Authorization: Bearer <key>.",
            )
            return
        http = await self._running()
        path = scope.get("path", "")
        scope = {**scope, "user": user, "path": PATH if path.rstrip("/") == PATH.rstrip("/") else path}
        await http(scope, receive, send)


application = McpApplication()
