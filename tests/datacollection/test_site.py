import os
import subprocess
import sys

import pytest

from tests.services import ROOT

pytestmark = pytest.mark.django_db


def test_home_page_is_served(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Knowledge base" in response.content


def test_wagtail_admin_login_is_served(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_admin_requires_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_header_offers_sign_out_and_the_admin_only_to_who_may_use_it(client, django_user_model):
    """A signed-in user signs out from any page (a POST with the CSRF token, to the view that also ends an
    SSO session at the provider); the Admin link is shown only with the admin-access permission."""
    client.force_login(django_user_model.objects.create_user("reader", password="x"))
    page = client.get("/").content.decode()
    assert '<form class="site-header__signout" method="post" action="/oidc/logout/">' in page
    assert 'name="csrfmiddlewaretoken"' in page and 'href="/admin/"' not in page
    client.force_login(django_user_model.objects.create_superuser("boss", password="x"))
    assert 'href="/admin/"' in client.get("/").content.decode()
    response = client.post("/oidc/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert "Sign in" in client.get("/").content.decode()


def _start_django(settings_module: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": settings_module, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_secret_key():
    result = _start_django("datacollection.settings.production")
    assert result.returncode != 0
    assert "SECRET_KEY is not set and DEBUG is off" in result.stderr


def test_production_starts_with_secret_key():
    result = _start_django("datacollection.settings.production", SECRET_KEY="s" * 50)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_bad_boolean_in_environment_is_a_clear_error():
    result = _start_django("datacollection.settings.production", SECRET_KEY="s" * 50, DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_beat_schedules_the_stale_job_sweeper_and_the_feedback_report(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"knowledgebase.requeue_stale_jobs", "chatbot.feedback_report_write"} <= tasks
    from datacollection.celery import app

    app.loader.import_default_modules()
    assert {"knowledgebase.requeue_stale_jobs", "chatbot.feedback_report_write"} <= set(app.tasks)
