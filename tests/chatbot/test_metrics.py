"""/metrics: closed without a staff session or the bearer token; request, answer and queue metrics."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis
from django.conf import settings
from django.test import override_settings

from tests.factories import user

pytestmark = pytest.mark.django_db


def _sample(text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    # Summed over the labels not named (e.g. every status of a route: an earlier test's 503 /healthz is a
    # sample of its own, and the first match alone made this order-dependent).
    values = [
        float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    ]
    if not values:
        raise AssertionError(f"no sample {name} {labels}")
    return sum(values)


@override_settings(METRICS_TOKEN="s3cret-token")
def test_metrics_need_the_token_or_a_staff_session(client: Any) -> None:
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    client.force_login(user("plain"))
    assert client.get("/metrics").status_code == 403
    client.logout()

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for name in (
        "http_request_duration_seconds_bucket",
        "chatbot_retrieval_duration_seconds_bucket",
        "chatbot_first_token_duration_seconds_bucket",
        "chatbot_generation_duration_seconds_bucket",
        "chatbot_answer_cache_total",
        "celery_queue_length",
        "knowledge_indexing_jobs",
    ):
        assert name in text

    client.force_login(user("staff", is_staff=True))
    assert client.get("/metrics").status_code == 200


def test_without_a_token_setting_only_staff_get_in(client: Any) -> None:
    assert settings.METRICS_TOKEN == ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_requests_answers_queues_and_indexing_failures_are_measured(client: Any) -> None:
    from chatbot.metrics import answer_observe
    from chatbot.models import ChatSession, Message
    from knowledgebase.models import IndexingJob

    client.force_login(user("staff", is_staff=True))
    before = client.get("/metrics").content.decode()
    client.get("/healthz")
    session = ChatSession.objects.create(user=user("ana"))
    answer_observe(
        Message(
            session=session,
            role="assistant",
            retrieval_time=0.2,
            first_token_time=0.4,
            response_time=1.5,
            cache_hit=True,
            tokens_used=42,
        )
    )
    IndexingJob.objects.create(source_type="page", source_id=1, status="failed", error="boom")
    queue = f"test-metrics-{uuid.uuid4().hex[:8]}"
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.rpush(queue, "a", "b", "c")
    try:
        with override_settings(METRICS_CELERY_QUEUES=[queue]):
            after = client.get("/metrics").content.decode()
    finally:
        broker.delete(queue)

    def grew(name: str, **labels: str) -> float:
        try:
            old = _sample(before, name, **labels)
        except AssertionError:
            old = 0.0
        return _sample(after, name, **labels) - old

    assert grew("http_request_duration_seconds_count", route="healthz", method="GET") == 1
    assert grew("chatbot_retrieval_duration_seconds_count") == 1
    assert grew("chatbot_generation_duration_seconds_sum") == pytest.approx(1.5)
    assert grew("chatbot_answer_cache_total", result="hit") == 1
    assert grew("chatbot_tokens_total") == 42
    assert _sample(after, "celery_queue_length", queue=queue) == 3
    assert _sample(after, "knowledge_indexing_jobs", status="failed") == 1
