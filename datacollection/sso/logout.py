"""Signing out of an SSO session at the provider too (OpenID Connect RP-initiated logout): where the
browser goes after the local sign-out."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.http import HttpRequest
from django.shortcuts import resolve_url
from django.utils.module_loading import import_string
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from .provider import ProviderUnavailable, provider_get, sso_enabled

logger = logging.getLogger(__name__)


def sso_session(request: HttpRequest) -> bool:
    """Whether the request's user signed in at the provider (not with a password)."""
    backend = request.session.get(BACKEND_SESSION_KEY)
    if not backend or not sso_enabled():
        return False
    try:
        return issubclass(import_string(backend), OIDCAuthenticationBackend)
    except ImportError:
        return False


def end_session_url(request: HttpRequest, *, after: str) -> str | None:
    """The provider's end_session_endpoint with this session's id_token, sending the browser back to
    `after` (made absolute); None when the sign-out is local only: a password session, no id_token kept,
    or a provider without the endpoint (or unreachable: a sign-out never fails for it)."""
    id_token = request.session.get("oidc_id_token")
    if not id_token or not sso_session(request):
        return None
    try:
        endpoint = provider_get().end_session_endpoint
    except ProviderUnavailable as e:
        logger.warning("Signing out locally only: %s", e)
        return None
    if not endpoint:
        return None
    query = urlencode(
        {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": request.build_absolute_uri(after),
            "client_id": settings.OIDC_RP_CLIENT_ID,
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def provider_logout_url(request: HttpRequest) -> str:
    """OIDC_OP_LOGOUT_URL_METHOD of mozilla-django-oidc's sign-out view: called before the local sign-out."""
    after = resolve_url(settings.LOGOUT_REDIRECT_URL or "/")
    return end_session_url(request, after=after) or after
