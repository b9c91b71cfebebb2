"""Who is calling the MCP server: the user of an API token (`Authorization: Bearer <key>`, or `Token
<key>` as the REST API takes it), refused once expired (chatbot.api.tokens)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from rest_framework.exceptions import AuthenticationFailed

from chatbot.api.tokens import ExpiringTokenAuthentication

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
SCHEMES = ("bearer", "token")


def bearer_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, key = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() in SCHEMES and key.strip():
                return key.strip()
    return None


def token_user(key: str | None) -> Any | None:
    """The active user owning this unexpired token, or None. Blocking: call from a thread."""
    if not key:
        return None
    try:
        user, _ = ExpiringTokenAuthentication().authenticate_credentials(key)
    except AuthenticationFailed:
        return None
    return user


def host_allowed(headers: list[tuple[bytes, bytes]]) -> bool:
    """The Host header against ALLOWED_HOSTS, as Django checks it for its own views."""
    host = next((v.decode("latin-1") for k, v in headers if k.lower() == b"host"), "")
    domain, _ = split_domain_port(host)
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


async def refuse(send: Send, *, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="mcp"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
