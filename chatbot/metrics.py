"""Prometheus metrics: request latency (middleware), the answer pipeline's timings, cache hits, Celery
queue lengths and indexing jobs, served on METRICS_PATH to a staff session or a bearer token.

Queue lengths and indexing job counts are read when scraped (a custom collector), so they are right
whichever process answers. The histograms and counters live in the process that observes them; with
several worker processes set PROMETHEUS_MULTIPROC_DIR (see datacollection/settings/observability.py) and
prometheus-client aggregates them across processes.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseForbidden
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from knowledgebase.index_audit import index_audit_last
from knowledgebase.models import IndexingJob

if TYPE_CHECKING:
    from chatbot.models import Message

logger = logging.getLogger(__name__)

# Seconds: from a cached answer (~10 ms) to a slow local LLM (a minute).
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)

REQUEST_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time until the response (headers of a streamed response) was returned, by route.",
    ["method", "route", "status"],
    buckets=_LATENCY_BUCKETS,
)
RETRIEVAL_LATENCY = Histogram(
    "chatbot_retrieval_duration_seconds", "Retrieval time of an answer.", buckets=_LATENCY_BUCKETS
)
FIRST_TOKEN_LATENCY = Histogram(
    "chatbot_first_token_duration_seconds", "Time until an answer's first token.", buckets=_LATENCY_BUCKETS
)
GENERATION_LATENCY = Histogram(
    "chatbot_generation_duration_seconds", "Time until an answer completed.", buckets=_LATENCY_BUCKETS
)
ANSWERS = Counter("chatbot_answers_total", "Answers by outcome.", ["status", "declined"])
CACHE_LOOKUPS = Counter("chatbot_answer_cache_total", "Answer cache lookups.", ["result"])
TOKENS = Counter("chatbot_tokens_total", "Tokens used by answers (prompt and completion).")


def answer_observe(message: Message) -> None:
    """Record a finished assistant message (complete, partial or error): call once, after saving it."""
    if message.retrieval_time is not None:
        RETRIEVAL_LATENCY.observe(message.retrieval_time)
    if message.first_token_time is not None:
        FIRST_TOKEN_LATENCY.observe(message.first_token_time)
    if message.response_time is not None:
        GENERATION_LATENCY.observe(message.response_time)
    ANSWERS.labels(status=message.status, declined=str(message.declined).lower()).inc()
    CACHE_LOOKUPS.labels(result="hit" if message.cache_hit else "miss").inc()
    if message.tokens_used:
        TOKENS.inc(message.tokens_used)


def retrieval_observe(seconds: float) -> None:
    """Record a retrieval that did not end in a saved answer (e.g. the search API)."""
    RETRIEVAL_LATENCY.observe(seconds)


# --- Read at scrape time ------------------------------------------------------------------------


class KnowledgeCollector(Collector):
    """Celery queue lengths from Redis and indexing jobs by status from the database."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        queues = GaugeMetricFamily(
            "celery_queue_length", "Tasks waiting in a Celery queue.", labels=["queue"]
        )
        for queue, length in queue_lengths().items():
            queues.add_metric([queue], length)
        yield queues

        jobs = GaugeMetricFamily(
            "knowledge_indexing_jobs",
            "Indexing jobs by status (failed: indexing failures).",
            labels=["status"],
        )
        counts = dict(
            IndexingJob.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n")
        )
        for status in IndexingJob.Status.values:
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs

        audit = index_audit_last()
        if audit is not None:
            differences = GaugeMetricFamily(
                "knowledge_index_audit_differences",
                "Sources whose index differs from the live content, by kind, at the last index audit.",
                labels=["kind"],
            )
            for kind, count in audit["counts"].items():
                differences.add_metric([kind], count)
            yield differences


def queue_lengths() -> dict[str, int]:
    """LLEN of each configured Celery queue; empty when the broker is not Redis or not reachable."""
    broker = getattr(settings, "CELERY_BROKER_URL", "") or ""
    if not broker.startswith(("redis://", "rediss://", "unix://")):
        return {}
    import redis

    client = redis.Redis.from_url(broker, socket_connect_timeout=1, socket_timeout=1)
    try:
        return {queue: int(client.llen(queue)) for queue in settings.METRICS_CELERY_QUEUES}
    except redis.RedisError as e:
        logger.warning("queue lengths unavailable: %s", e)
        return {}
    finally:
        client.close()


_knowledge_collector = KnowledgeCollector()


def metrics_registry() -> CollectorRegistry:
    """The registry to expose: this process's, or every process's when PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessRegistry())
    registry.register(_knowledge_collector)
    return registry


class _ProcessRegistry(Collector):
    """The default registry's metrics (ours and the process/platform collectors) inside another one."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


# --- The endpoint -------------------------------------------------------------------------------


def metrics_authorized(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), token.encode())
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and (user.is_staff or user.is_superuser))


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text exposition; 403 unless a staff session or `Authorization: Bearer <METRICS_TOKEN>`."""
    if not metrics_authorized(request):
        return HttpResponseForbidden("Metrics need a staff session or the metrics bearer token.")
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)


class _Middleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)  # type: ignore[type-var]


class MetricsEndpointMiddleware(_Middleware):
    """Answers METRICS_PATH itself, so no URLconf (and not Wagtail's catch-all page route) is involved."""

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        if request.path == settings.METRICS_PATH:
            return metrics_view(request)
        return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        if request.path == settings.METRICS_PATH:
            # The session user and the database queries of the collector are synchronous.
            return await sync_to_async(metrics_view)(request)
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        return await get_response(request)


class RequestMetricsMiddleware(_Middleware):
    """Observes every request's latency by route pattern (not by URL, which would explode the labels)."""

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        started = time.perf_counter()
        response: HttpResponseBase = self.get_response(request)
        _observe_request(request, response, time.perf_counter() - started)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        response = await get_response(request)
        _observe_request(request, response, time.perf_counter() - started)
        return response


def _observe_request(request: HttpRequest, response: HttpResponseBase, seconds: float) -> None:
    if request.path == settings.METRICS_PATH:
        route = "metrics"
    elif request.resolver_match is not None:
        route = request.resolver_match.view_name or request.resolver_match.route or "unnamed"
    else:
        route = "unmatched"
    REQUEST_LATENCY.labels(
        method=request.method or "", route=route, status=f"{response.status_code // 100}xx"
    ).observe(seconds)
