"""Single sign-on with OpenID Connect (datacollection/sso): off unless a client id is set.

mozilla-django-oidc reads its OIDC_* settings by these names; the endpoints may instead come from the
provider's discovery document (OIDC_OP_DISCOVERY), fetched when the first sign-in needs it, never at start-up.
"""

from __future__ import annotations

import json
import re

from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_float, env_int, env_list, env_str

OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET")
# The provider's /.well-known/openid-configuration; or the four endpoints below (they win over discovery).
OIDC_OP_DISCOVERY = env_str("OIDC_OP_DISCOVERY")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT")
# The id_token's `iss` must equal this (discovery's `issuer` when unset; unchecked when neither is known).
OIDC_OP_ISSUER = env_str("OIDC_OP_ISSUER")
# The provider's end_session_endpoint (discovery's when unset): signing out of an SSO session ends the
# provider's session too. Without one, signing out is local only.
OIDC_OP_LOGOUT_ENDPOINT = env_str("OIDC_OP_LOGOUT_ENDPOINT")
OIDC_RP_SIGN_ALGO = env_str("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid email profile")
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "single sign-on")
# Password sign-in refused (ModelBackend removed) and its form hidden: everyone signs in at the provider.
OIDC_ONLY = env_bool("OIDC_ONLY", False)
# Claim listing the user's groups, and which of its values become which Django/Wagtail group (by name).
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
try:
    OIDC_GROUP_MAP: dict[str, str] = json.loads(env_str("OIDC_GROUP_MAP", "") or "{}")
except ValueError as e:
    raise ImproperlyConfigured(f"OIDC_GROUP_MAP is not JSON: {e}") from e
if not isinstance(OIDC_GROUP_MAP, dict) or not all(
    isinstance(k, str) and isinstance(v, str) for k, v in OIDC_GROUP_MAP.items()
):
    raise ImproperlyConfigured(
        'OIDC_GROUP_MAP must be a JSON object of strings: {"claim value": "group name"}.'
    )
# Claim values that make a user staff / superuser; when set, the provider decides both ways at each sign-in.
OIDC_STAFF_GROUPS = env_list("OIDC_STAFF_GROUPS", [])
OIDC_SUPERUSER_GROUPS = env_list("OIDC_SUPERUSER_GROUPS", [])
OIDC_TIMEOUT = env_float("OIDC_TIMEOUT", 10.0)
OIDC_USE_PKCE = env_bool("OIDC_USE_PKCE", True)
# The id_token is kept in the session as the id_token_hint of the provider's sign-out.
OIDC_STORE_ID_TOKEN = True
# mozilla-django-oidc's OIDCLogoutView asks this function where a sign-out goes (datacollection/sso).
OIDC_OP_LOGOUT_URL_METHOD = "datacollection.sso.logout.provider_logout_url"
# An SSO session is re-checked at the provider (prompt=none) on the first page navigation after this many
# seconds: a user disabled there is signed out, groups are mapped again. 0 turns the re-check off.
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = env_int("OIDC_RENEW_SECONDS", 900)
# Never re-checked (a redirect would break a JSON, SSE or MCP client): paths starting so. STATIC_URL,
# MEDIA_URL and METRICS_PATH are added by the middleware (datacollection.sso.middleware.SessionRecheck).
OIDC_EXEMPT_URLS = [re.compile(prefix) for prefix in (r"/api/", r"/mcp(/|$)", r"/healthz$")]
SSO_MIDDLEWARE = "datacollection.sso.middleware.SessionRecheck"

if OIDC_RP_CLIENT_ID and not (
    OIDC_OP_DISCOVERY
    or all(
        (OIDC_OP_AUTHORIZATION_ENDPOINT, OIDC_OP_TOKEN_ENDPOINT, OIDC_OP_USER_ENDPOINT, OIDC_OP_JWKS_ENDPOINT)
    )
):
    raise ImproperlyConfigured(
        "OIDC_RP_CLIENT_ID is set but the provider is not: set OIDC_OP_DISCOVERY, or all of "
        "OIDC_OP_AUTHORIZATION_ENDPOINT, OIDC_OP_TOKEN_ENDPOINT, OIDC_OP_USER_ENDPOINT and "
        "OIDC_OP_JWKS_ENDPOINT."
    )
if OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS < 0:
    raise ImproperlyConfigured("OIDC_RENEW_SECONDS must be 0 (no re-check) or a number of seconds.")
if OIDC_ONLY and not OIDC_RP_CLIENT_ID:
    raise ImproperlyConfigured("OIDC_ONLY=1 needs OIDC_RP_CLIENT_ID and a provider; nobody could sign in.")

SSO_AUTHENTICATION_BACKENDS = (["datacollection.sso.backend.OIDCBackend"] if OIDC_RP_CLIENT_ID else []) + (
    [] if OIDC_ONLY else ["django.contrib.auth.backends.ModelBackend"]
)
LOGIN_REDIRECT_URL = "/"
# Where the site's sign-out (/oidc/logout/) lands, after the provider's when it has one.
LOGOUT_REDIRECT_URL = "/"
# Where a refused sign-in lands (with a message saying so).
LOGIN_REDIRECT_URL_FAILURE = "/admin/login/"
