"""Production: everything from the environment. DEBUG is off, so SECRET_KEY is required."""

import os

os.environ.setdefault("DEBUG", "0")

from .base import *  # noqa: F403
from .env import env_bool, env_int

# Bounded PostgreSQL connections per process (the web server's, each worker child's); 0 turns the pool off.
database_pool_configure(DATABASES, default_max_size=20)  # noqa: F405

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
# HTTPS only: plain HTTP is redirected (health probes excepted), and browsers are told to remember it for a
# year. Subdomains and preloading are the operator's promise to make (README, "Security").
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
# SAMEORIGIN, not DENY: Wagtail's preview panel frames the site's own pages. Browsers with CSP use the
# frame-ancestors the middleware sends instead (datacollection/security.py).
X_FRAME_OPTIONS = "SAMEORIGIN"
SILENCED_SYSTEM_CHECKS = ["security.W019"]
