"""Single sign-on with OpenID Connect, on mozilla-django-oidc: the provider's endpoints (explicit or from
discovery), an authentication backend that keeps users and their groups in step with the provider's claims,
and thin subclasses of the library's views that answer 404 while SSO is not configured."""
