import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

pytestmark = pytest.mark.django_db

DEAD = "127.0.0.1:1"  # nothing listens on port 1 on loopback


def test_healthz_reports_every_component_ok(client, celery_worker):
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["components"]) == {"database", "cache", "broker", "search", "worker"}
    assert body["components"]["database"] == "ok (postgresql)"
    assert body["components"]["cache"].startswith("ok (RedisCache")
    assert body["components"]["search"].startswith("ok (elasticsearch 8.")
    assert body["components"]["worker"].startswith("ok (")


def test_healthz_reports_dead_redis_as_failed_with_503(client):
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"redis://{DEAD}/0"}
    }
    with override_settings(CACHES=caches, CELERY_BROKER_URL=f"redis://{DEAD}/0", HEALTHZ_TIMEOUT=1.0):
        response = client.get("/healthz")
    assert response.status_code == 503
    components = response.json()["components"]
    assert components["cache"].startswith("failed: ")
    assert components["broker"].startswith("failed: ")
    assert components["database"] == "ok (postgresql)"


def test_healthz_reports_dead_elasticsearch_as_failed_with_503(client, settings):
    settings.KNOWLEDGE_SEARCH_BACKENDS = {
        "default": {**settings.KNOWLEDGE_SEARCH_BACKENDS["default"], "URLS": [f"http://{DEAD}"]}
    }
    settings.HEALTHZ_TIMEOUT = 1.0
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["components"]["search"].startswith("failed: ")


def test_healthz_optional_component_does_not_fail_the_report(client, settings):
    settings.KNOWLEDGE_SEARCH_BACKENDS = {
        "default": {**settings.KNOWLEDGE_SEARCH_BACKENDS["default"], "URLS": [f"http://{DEAD}"]}
    }
    settings.HEALTHZ_TIMEOUT = 1.0
    settings.HEALTHZ_REQUIRED = ["database"]
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["components"]["search"].startswith("failed: ")


def test_doctor_prints_components_and_fails_when_one_is_down(settings, capsys):
    settings.KNOWLEDGE_SEARCH_BACKENDS = {
        "default": {**settings.KNOWLEDGE_SEARCH_BACKENDS["default"], "URLS": [f"http://{DEAD}"]}
    }
    settings.HEALTHZ_TIMEOUT = 1.0
    with pytest.raises(CommandError, match="required components failed"):
        call_command("doctor")
    out = capsys.readouterr().out
    assert "database  ok (postgresql)" in out
    assert "search    failed: " in out
