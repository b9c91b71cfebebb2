"""Re-checking an SSO session at the provider: mozilla-django-oidc's SessionRefresh, narrowed to page
navigations of SSO sessions and reading the provider per request (it may come from discovery)."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin
from django.utils.functional import cached_property
from mozilla_django_oidc.middleware import SessionRefresh

from .logout import sso_session
from .provider import ProviderUnavailable, provider_get, sso_enabled

logger = logging.getLogger(__name__)


def is_navigation(request: HttpRequest) -> bool:
    """A browser loading a page, not a script's fetch or an event stream (a redirect to the provider would
    break those). Browsers say so in Sec-Fetch-Mode; without it, a client asking for something other than
    HTML is not navigating; a client that says neither (curl, tests) is taken as navigating."""
    mode = request.headers.get("Sec-Fetch-Mode")
    if mode:
        return mode == "navigate"
    accept = request.headers.get("Accept")
    return not accept or "text/html" in accept or accept.strip() == "*/*"


class SessionRecheck(SessionRefresh):
    """After OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS, the next page navigation of an SSO session goes through
    the provider's authorization endpoint with prompt=none. The callback then either signs the same user in
    again (OIDCBackend.update_user maps the groups anew) or, on the provider's error (login_required for a
    user disabled or signed out there), signs the user out. Password sessions, SSO off, the API, MCP,
    health, metrics and static files are left alone."""

    def __init__(self, get_response: Any) -> None:
        # The library reads the client id and the authorization endpoint here; they are read per request
        # instead (tests change the settings, and the endpoint may need discovery).
        MiddlewareMixin.__init__(self, get_response)
        self.OIDC_EXEMPT_URLS = self.get_settings("OIDC_EXEMPT_URLS", [])
        self.OIDC_STATE_SIZE = self.get_settings("OIDC_STATE_SIZE", 32)
        self.OIDC_AUTHENTICATION_CALLBACK_URL = self.get_settings(
            "OIDC_AUTHENTICATION_CALLBACK_URL", "oidc_authentication_callback"
        )
        self.OIDC_RP_SCOPES = self.get_settings("OIDC_RP_SCOPES", "openid email")
        self.OIDC_USE_NONCE = self.get_settings("OIDC_USE_NONCE", True)
        self.OIDC_NONCE_SIZE = self.get_settings("OIDC_NONCE_SIZE", 32)

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:  # the library's attribute
        return str(settings.OIDC_RP_CLIENT_ID)

    @property
    def OIDC_OP_AUTHORIZATION_ENDPOINT(self) -> str:  # the library's attribute
        return provider_get().authorization_endpoint

    @cached_property
    def exempt_url_patterns(self) -> set[re.Pattern[str]]:
        prefixes = (settings.STATIC_URL, settings.MEDIA_URL, settings.METRICS_PATH)
        return {pattern for pattern in self.OIDC_EXEMPT_URLS if isinstance(pattern, re.Pattern)} | {
            re.compile(re.escape(str(prefix))) for prefix in prefixes if prefix
        }

    def is_refreshable_url(self, request: HttpRequest) -> bool:
        # The library's check takes a session without a backend for an OIDC one; this one wants an SSO
        # session, a page navigation and a re-check interval.
        return (
            bool(settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS)
            and sso_enabled()
            and request.user.is_authenticated
            and sso_session(request)
            and is_navigation(request)
            and super().is_refreshable_url(request)
        )

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if not self.is_refreshable_url(request):
            return None
        try:
            provider_get()
        except ProviderUnavailable as e:
            # Discovery failing is no reason to lock everyone out; the next navigation tries again.
            logger.warning("SSO session not re-checked: %s", e)
            return None
        response: HttpResponse | None = super().process_request(request)
        return response
