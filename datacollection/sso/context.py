from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from .provider import sso_enabled


def sso(request: HttpRequest) -> dict[str, Any]:
    """`sso` for the login templates: None while SSO is off."""
    if not sso_enabled():
        return {"sso": None}
    return {
        "sso": {
            "provider_name": settings.OIDC_PROVIDER_NAME,
            "login_url": reverse("oidc_authentication_init"),
            "only": settings.OIDC_ONLY,
        }
    }
