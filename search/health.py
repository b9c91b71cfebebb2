"""Health of the configured knowledge search engine (used by /healthz and `manage.py doctor`)."""

from __future__ import annotations

from django.conf import settings


def search_engine_health(*, timeout: float) -> str:
    config = settings.KNOWLEDGE_SEARCH_BACKENDS["default"]
    if config["BACKEND"].endswith("elasticsearch"):
        from elasticsearch import Elasticsearch

        client = Elasticsearch(config["URLS"], request_timeout=timeout, retry_on_timeout=False, max_retries=0)
        health = client.cluster.health()
        if health["status"] == "red":
            raise RuntimeError("Elasticsearch cluster status is red")
        # GET / lives in the rest-root module, which the core-only test distribution lacks.
        nodes = client.nodes.info(node_id="_local", filter_path="nodes.*.version")
        version = next(iter(nodes["nodes"].values()))["version"]
        return f"elasticsearch {version}, {health['status']}"
    return config["BACKEND"].rsplit(".", 1)[-1]
