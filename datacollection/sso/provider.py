"""The identity provider's endpoints: from the settings, the gaps filled from its discovery document."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings

# Providers rotate signing keys, not endpoints; an hour keeps a changed document from being missed for long.
DISCOVERY_TTL_SECONDS = 3600

_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


class ProviderUnavailable(Exception):
    """The discovery document could not be fetched or lacks an endpoint."""


@dataclass(frozen=True, kw_only=True)
class Provider:
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    issuer: str  # "" when unknown: the id_token's `iss` is then not checked
    end_session_endpoint: str  # "" when the provider has none: signing out is then local only


# Endpoints a provider may lack; the others are needed for a sign-in.
OPTIONAL = frozenset({"issuer", "end_session_endpoint"})


def sso_enabled() -> bool:
    return bool(getattr(settings, "OIDC_RP_CLIENT_ID", ""))


def _discovery(url: str) -> dict[str, Any]:
    with _lock:
        cached = _cache.get(url)
        if cached and time.monotonic() - cached[0] < DISCOVERY_TTL_SECONDS:
            return cached[1]
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as e:
        raise ProviderUnavailable(f"OIDC discovery at {url} failed: {e}") from e
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"OIDC discovery at {url} is not a JSON object.")
    with _lock:
        _cache[url] = (time.monotonic(), document)
    return document


def provider_get() -> Provider:
    """The configured provider; explicit OIDC_OP_* endpoints win over the discovery document's."""
    explicit = {
        "authorization_endpoint": settings.OIDC_OP_AUTHORIZATION_ENDPOINT,
        "token_endpoint": settings.OIDC_OP_TOKEN_ENDPOINT,
        "userinfo_endpoint": settings.OIDC_OP_USER_ENDPOINT,
        "jwks_uri": settings.OIDC_OP_JWKS_ENDPOINT,
        "issuer": settings.OIDC_OP_ISSUER,
        "end_session_endpoint": settings.OIDC_OP_LOGOUT_ENDPOINT,
    }
    document = _discovery(settings.OIDC_OP_DISCOVERY) if settings.OIDC_OP_DISCOVERY else {}
    values = {key: value or str(document.get(key) or "") for key, value in explicit.items()}
    missing = sorted(key for key, value in values.items() if not value and key not in OPTIONAL)
    if missing:
        raise ProviderUnavailable(f"The OIDC provider has no {', '.join(missing)}.")
    return Provider(**values)
