"""mozilla-django-oidc's views, answering 404 while SSO is off and a message when a sign-in fails; the
site's and the admin's sign-out, which end the provider's session too after an SSO sign-in."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import auth, messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.generic import View
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
    OIDCLogoutView,
)
from wagtail.admin.views.account import LogoutView as WagtailLogoutView

from .logout import end_session_url, sso_session
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
    """Where the provider sends the browser back with a code; OIDCBackend does the rest. It also ends a
    re-check of an SSO session (middleware.SessionRecheck): the same user again, or a sign-out."""

    recheck = False

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404
        self.recheck = request.user.is_authenticated and sso_session(request)
        return super().get(request)

    def login_failure(self) -> HttpResponse:
        if not self.recheck:
            return _failed(self.request)
        # The provider no longer signs this user in (its error, or a token refused here). The library signs
        # out only on the former; a session left signed in would be sent to the provider again at every
        # navigation, the sign-in page included.
        auth.logout(self.request)
        messages.info(
            self.request, f"You have been signed out: {settings.OIDC_PROVIDER_NAME} no longer signs you in."
        )
        return HttpResponseRedirect(settings.LOGIN_REDIRECT_URL_FAILURE)


class LogoutView(OIDCLogoutView):
    """The site's sign-out (POST): local, then at the provider for an SSO session (logout.py decides).
    It works with SSO off too, as a plain sign-out."""


class AdminLogoutView(WagtailLogoutView):
    """Wagtail's admin sign-out, then the provider's for an SSO session; mounted at the admin's logout
    path before Wagtail's admin URLs, so the admin's own sign-out button comes here."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # The id_token and the session's backend are gone after the local sign-out: ask first.
        at_provider = end_session_url(request, after=str(self.get_success_url()))
        response = super().post(request, *args, **kwargs)
        return HttpResponseRedirect(at_provider) if at_provider else response
