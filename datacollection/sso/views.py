"""mozilla-django-oidc's views, answering 404 while SSO is off and a message when a sign-in fails."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.generic import View
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from .provider import ProviderUnavailable, provider_get, sso_enabled


def _failed(request: HttpRequest) -> HttpResponse:
    messages.error(request, f"Signing in with {settings.OIDC_PROVIDER_NAME} did not succeed.")
    return HttpResponseRedirect(settings.LOGIN_REDIRECT_URL_FAILURE)


class AuthenticateView(OIDCAuthenticationRequestView):
    """Redirects to the provider's authorization endpoint."""

    def __init__(self, **kwargs: Any) -> None:
        # The library reads the endpoint here; it is resolved per request instead (it may need discovery).
        View.__init__(self, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider_get().authorization_endpoint
        except ProviderUnavailable:
            return _failed(request)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


class CallbackView(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back with a code; OIDCBackend does the rest."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404
        return super().get(request)

    def login_failure(self) -> HttpResponse:
        return _failed(self.request)
