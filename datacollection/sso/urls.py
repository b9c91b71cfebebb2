from django.urls import path

from .views import AuthenticateView, CallbackView, LogoutView

# The names mozilla-django-oidc reverses.
urlpatterns = [
    path("authenticate/", AuthenticateView.as_view(), name="oidc_authentication_init"),
    path("callback/", CallbackView.as_view(), name="oidc_authentication_callback"),
    # The site's sign-out (POST), SSO on or off.
    path("logout/", LogoutView.as_view(), name="oidc_logout"),
]
