"""Authentication backend: mozilla-django-oidc's code flow, stricter about the id_token and with
users and groups kept in step with the provider (services.user_claims_apply)."""

from __future__ import annotations

import logging
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend, default_username_algo

from .provider import ProviderUnavailable, provider_get, sso_enabled
from .services import user_claims_apply

logger = logging.getLogger(__name__)

# What a refused sign-in raises on its way: a bad token or state, a provider answering badly or not at all.
REFUSALS = (
    SuspiciousOperation,
    jwt.InvalidTokenError,
    requests.RequestException,
    ValueError,
    ProviderUnavailable,
)


class OIDCBackend(OIDCAuthenticationBackend):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Django builds a backend for every request of a signed-in user (get_user): no provider lookup here.
        self.UserModel = get_user_model()
        self.issuer = ""

    def _configure(self) -> None:
        provider = provider_get()
        self.OIDC_OP_TOKEN_ENDPOINT = provider.token_endpoint
        self.OIDC_OP_USER_ENDPOINT = provider.userinfo_endpoint
        self.OIDC_OP_JWKS_ENDPOINT = provider.jwks_uri
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.issuer = provider.issuer

    def authenticate(self, request: Any, **kwargs: Any) -> Any:
        """The user the provider vouches for, or None: a refused sign-in is logged, never an error page."""
        if request is None or not sso_enabled() or "code" not in request.GET:
            return None
        try:
            self._configure()
            return super().authenticate(request, **kwargs)
        except REFUSALS as e:
            logger.warning("OIDC sign-in refused: %s", e)
            return None

    def _verify_jws(self, payload: Any, key: Any) -> dict[str, Any]:
        """The library checks neither audience, issuer nor expiry's presence; an id_token for another client
        or from another issuer is refused here."""
        if jwt.get_unverified_header(payload).get("alg") != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation("The id_token is not signed with OIDC_RP_SIGN_ALGO.")
        return jwt.decode(
            payload,
            key,
            algorithms=[self.OIDC_RP_SIGN_ALGO],
            audience=self.OIDC_RP_CLIENT_ID,
            issuer=self.issuer or None,
            options={"require": ["exp", "iat", "sub", "aud"]},
        )

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The id_token's claims with the userinfo endpoint's over them (Entra ID puts groups only in the
        id_token), for the same subject only."""
        userinfo = super().get_userinfo(access_token, id_token, payload)
        if userinfo.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("userinfo is about another subject than the id_token.")
        return {**payload, **userinfo}

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        # Users are matched by email: an address the provider says it has not verified must not take over
        # the account that has it.
        return bool(claims.get("email")) and claims.get("email_verified", True) is not False

    def create_user(self, claims: dict[str, Any]) -> Any:
        username = str(claims.get("preferred_username") or "")[:150]
        if not username or self.UserModel.objects.filter(username__iexact=username).exists():
            username = default_username_algo(claims["email"], claims)
        user = self.UserModel(username=username, email=claims["email"])
        user.set_unusable_password()
        return user_claims_apply(user, claims=claims)

    def update_user(self, user: Any, claims: dict[str, Any]) -> Any:
        return user_claims_apply(user, claims=claims)

    def get_user(self, user_id: Any) -> Any:
        # The library's returns inactive users too: a deactivated account would stay signed in.
        return ModelBackend.get_user(self, user_id)
