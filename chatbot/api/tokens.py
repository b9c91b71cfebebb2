"""API tokens that expire and can be rotated or revoked.

DRF's own tokens (one per user, `manage.py drf_create_token [-r] USER`) never expire. This authentication
class refuses a token older than settings.API_TOKEN_TTL_HOURS; `POST auth/token/rotate/` replaces the
caller's token (the old key stops working at once) and `DELETE auth/token/` revokes it. README, "Security",
says why not django-rest-knox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed


def token_expires_at(token: Token) -> Any:
    hours = int(settings.API_TOKEN_TTL_HOURS)
    return token.created + timedelta(hours=hours) if hours > 0 else None


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        user, token = super().authenticate_credentials(key)
        expires_at = token_expires_at(token)
        if expires_at is not None and timezone.now() >= expires_at:
            raise AuthenticationFailed("Token has expired. Sign in and rotate it, or ask an administrator.")
        return user, token


def api_token_rotate(user: Any) -> Token:
    """A new token for `user`; the old one (if any) stops working."""
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        return Token.objects.create(user=user)


def api_token_revoke(user: Any) -> int:
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted
