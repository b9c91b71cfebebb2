"""Driving the MCP server with the SDK's own client: `streamable_http_client` + `ClientSession`, over
HTTP to a uvicorn process, or in process through httpx's ASGI transport (the leak matrix)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx2
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.services import ServedSite, uvicorn_serve


@asynccontextmanager
async def mcp_session(
    url: str, token: str | None, *, transport: httpx2.AsyncBaseTransport | None = None
) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, transport=transport, timeout=60) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


@asynccontextmanager
async def mcp_in_process(token: str, *, start: bool = True) -> AsyncIterator[ClientSession]:
    """The site's ASGI stack with a fresh MCP app (its session manager bound to this event loop), as the
    leak matrix's test transaction sees the database. `start=False`: no lifespan startup, as under
    `uvicorn --lifespan off`."""
    from chatbot.mcp.app import McpApplication
    from datacollection.asgi import django_application
    from datacollection.mounts import PathDispatcher

    mcp_app = McpApplication()
    site = PathDispatcher(django_application, mounts={"/mcp": mcp_app})
    if start:
        await mcp_app.startup()
    # As Django's test client does: keep the test's database connection (and its transaction) open.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        async with mcp_session(
            "http://localhost/mcp/", token, transport=httpx2.ASGITransport(app=site)
        ) as session:
            yield session
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
        await mcp_app.shutdown()


def resource_text(result: Any) -> str:
    return "".join(getattr(content, "text", "") for content in result.contents)


def tool_text(result: Any) -> str:
    """Everything a tool call returned, as text (what an assistant would read)."""
    parts = [getattr(block, "text", "") for block in result.content]
    if result.structured_content is not None:
        parts.append(json.dumps(result.structured_content))
    return "\n".join(parts)


McpSite = ServedSite


@contextmanager
def mcp_site(env: dict[str, str]) -> Iterator[McpSite]:
    """The site's ASGI app in uvicorn with lifespan events on (how the Dockerfile and compose run it:
    uvicorn's default "auto" sends them), on an already-bound loopback socket; waits until /mcp/ answers."""
    site = uvicorn_serve(env, log_name="mcp-site.log", lifespan="on")
    process, log_path = site.process, site.log_path
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, f"uvicorn exited with {process.returncode}; see {log_path}"
            try:
                if httpx2.post(f"{site.url}/mcp/", timeout=5).status_code == 401:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, f"the site did not answer on /mcp/; see {log_path}"
            time.sleep(0.5)
        yield site
    finally:
        crashed = process.poll()
        site.stop()
        assert crashed is None, f"uvicorn exited with {crashed} during the test; see {log_path}"
