"""Deploy-time security: the Content-Security-Policy, who may frame the site, and the API schema check
`check --deploy` runs.

Frames: Wagtail's preview panel frames the site's own pages, so X-Frame-Options stays SAMEORIGIN (Django's
security.W019 wants DENY, which breaks the preview; production.py silences that one check for this
reason). Browsers that know CSP use `frame-ancestors` instead, which also lets an operator list portals
allowed to frame the site (FRAME_ANCESTORS). The chat widget is part of the site's own pages, not a frame,
so it needs nothing more.

Scripts: the site's pages (the chat page, and every page carrying the widget) have no inline script, no
inline event handler and no inline style; configuration travels in data- attributes. So their HTML gets a
strict policy (SITE_POLICY): a model's output or an editor's text that slipped past the renderer still
could not run script, load an image from another host or post a form elsewhere. Wagtail's admin (and
Django's) use inline scripts and styles of their own, so they keep only `frame-ancestors`; responses that
set their own policy (private downloads: `default-src 'none'; sandbox`) keep theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse

# Everything from this origin only; images may also be data: URLs (the chat's icons are inline SVG).
SITE_POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
)


def frame_ancestors() -> str:
    return " ".join(["'self'", *settings.FRAME_ANCESTORS])


def site_policy() -> str:
    """The strict policy of the site's HTML pages, frame-ancestors included."""
    return "; ".join([*SITE_POLICY, f"frame-ancestors {frame_ancestors()}"])


def _admin_prefixes() -> tuple[str, ...]:
    # Resolved, not hard-coded: the admin's mount point is the URLconf's business.
    return (reverse("wagtailadmin_home"), reverse("admin:index"))


def _is_site_page(request: HttpRequest, response: HttpResponseBase) -> bool:
    html = response.get("Content-Type", "").startswith("text/html")
    return html and not request.path.startswith(_admin_prefixes())


class ContentSecurityPolicyMiddleware:
    """The strict policy on the site's HTML pages; on every other response `frame-ancestors` is added to
    the Content-Security-Policy it has (creating the header if none)."""

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase = self.get_response(request)
        policy = response.get("Content-Security-Policy", "")
        if not policy and _is_site_page(request, response):
            response["Content-Security-Policy"] = site_policy()
        elif "frame-ancestors" not in policy:
            directive = f"frame-ancestors {frame_ancestors()}"
            response["Content-Security-Policy"] = f"{policy}; {directive}" if policy else directive
        return response


def api_schema_check(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """drf-spectacular's own deploy check generates a schema of every DRF view on the site, Wagtail's
    admin API included (which cannot be described without a request); the published schema is the
    chatbot API's (chatbot.api.schema_urls), so that is the one checked."""
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    problems: list[Any] = []
    try:
        with GENERATOR_STATS.silence():
            SchemaGenerator(urlconf="chatbot.api.schema_urls").get_schema(request=None, public=True)
    except Exception as e:  # noqa: BLE001 - any failure is the check's finding
        return [Error(f"API schema generation failed: {e}", id="datacollection.E002")]
    problems += [Warning(w, id="datacollection.W001") for w in GENERATOR_STATS._warn_cache]
    problems += [Warning(e, id="datacollection.W002") for e in GENERATOR_STATS._error_cache]
    return problems
