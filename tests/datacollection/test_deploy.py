"""`manage.py check --deploy` passes under production settings with production's environment, and the
frame-ancestors policy every response carries (issue 17, deploy checks)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

REPO = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "datacollection.settings.production",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "chat.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://chat.example.org",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
}


def deploy_check(**changes: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **PRODUCTION_ENV, **changes}
    for name in ("DEBUG", "SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE"):
        if name not in changes:
            env.pop(name, None)
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)


def test_deploy_check_passes_under_production_settings():
    result = deploy_check()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("changes", "finding"),
    [
        ({"SECURE_HSTS_SECONDS": "0"}, "security.W004"),
        ({"SESSION_COOKIE_SECURE": "0"}, "security.W012"),
        ({"SECURE_SSL_REDIRECT": "0"}, "security.W008"),
        ({"DEBUG": "1"}, "security.W018"),
    ],
)
def test_deploy_check_fails_when_a_protection_is_off(changes, finding):
    result = deploy_check(**changes)
    assert result.returncode != 0 and finding in result.stdout + result.stderr


@pytest.mark.django_db
def test_every_response_names_who_may_frame_it(client):
    response = client.get("/healthz")  # JSON: only frame-ancestors
    assert response["Content-Security-Policy"] == "frame-ancestors 'self'"
    assert response["X-Frame-Options"] in {"SAMEORIGIN", "DENY"}
    with override_settings(FRAME_ANCESTORS=["https://portal.example.org"]):
        framed = client.get("/healthz")
    assert framed["Content-Security-Policy"] == "frame-ancestors 'self' https://portal.example.org"


STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)


@pytest.mark.django_db
def test_site_pages_carry_the_strict_policy_and_the_admin_a_framing_one(client, django_user_model):
    from wagtail.models import Page

    home = Page.objects.filter(depth=2).first()
    user = django_user_model.objects.create_user("csp", password="x", is_staff=True, is_superuser=True)
    client.force_login(user)
    assert client.get("/chat/")["Content-Security-Policy"] == STRICT
    if home is not None:
        assert client.get(home.url)["Content-Security-Policy"] == STRICT
    assert client.get("/no-such-page/")["Content-Security-Policy"] == STRICT  # error pages are site pages
    # Wagtail's and Django's admins run inline scripts of their own: only who may frame them.
    assert client.get("/admin/")["Content-Security-Policy"] == "frame-ancestors 'self'"
    assert client.get("/django-admin/")["Content-Security-Policy"] == "frame-ancestors 'self'"
    with override_settings(FRAME_ANCESTORS=["https://portal.example.org"]):
        framed = client.get("/chat/")["Content-Security-Policy"]
    assert framed.endswith("frame-ancestors 'self' https://portal.example.org")


def test_site_templates_have_no_inline_script_handler_or_style():
    """What the strict policy would block: an inline <script>, an on* attribute, a style attribute or
    a javascript: URL in a template the site's pages (chat page, widget) render."""
    import re

    offending = re.compile(r"<script(?![^>]*\ssrc=)|\son[a-z]+\s*=|\sstyle\s*=|<style|javascript:", re.I)
    templates = REPO / "templates"
    site_templates = [p for p in templates.rglob("*.html") if "admin" not in p.relative_to(templates).parts]
    assert any(path.name == "widget.html" for path in site_templates)
    found = [
        f"{path.relative_to(REPO)}: {match.group(0)}"
        for path in site_templates
        for match in offending.finditer(path.read_text())
    ]
    assert found == []
