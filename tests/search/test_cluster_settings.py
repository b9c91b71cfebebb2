"""Several Elasticsearch nodes through the settings alone: ELASTICSEARCH_URL comma-separated becomes the
backend's URLS, ELASTICSEARCH_REPLICAS its number_of_replicas, and the client it builds knows every node,
retries a connection error once per node and never sniffs. (The cluster itself: tests/cluster.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from search.backends.elasticsearch import ElasticsearchSearchBackend
from tests.services import ROOT

URLS = "http://127.0.0.1:9201, http://127.0.0.1:9202,http://127.0.0.1:9203"


def _settings_backend(**env: str) -> dict:
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.KNOWLEDGE_SEARCH_BACKENDS['default']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "datacollection.settings.test", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_comma_separated_urls_and_replicas_reach_the_backend() -> None:
    params = _settings_backend(ELASTICSEARCH_URL=URLS, ELASTICSEARCH_REPLICAS="1")
    assert params["URLS"] == ["http://127.0.0.1:9201", "http://127.0.0.1:9202", "http://127.0.0.1:9203"]
    assert params["OPTIONS"]["number_of_replicas"] == 1
    assert _settings_backend(ELASTICSEARCH_URL="http://127.0.0.1:9200")["OPTIONS"]["number_of_replicas"] == 0


def test_the_client_uses_every_node_retries_per_node_and_never_sniffs() -> None:
    params = {
        "URLS": [u.strip() for u in URLS.split(",")],
        "INDEX": "x",
        "OPTIONS": {"number_of_replicas": 1},
    }
    backend = ElasticsearchSearchBackend("default", params)
    client = backend.client
    assert len(client.transport.node_pool.all()) == 3
    assert client._max_retries == 3  # one more try per other node
    assert client._retry_on_timeout is False
    transport = client.transport
    assert (
        transport._sniff_on_start,
        transport._sniff_before_requests,
        transport._sniff_on_node_failure,
    ) == (
        False,
        False,
        False,
    )
    assert backend.number_of_replicas == 1
    single = ElasticsearchSearchBackend("default", {"URLS": ["http://127.0.0.1:9200"], "INDEX": "x"})
    assert (single.client._max_retries, single.number_of_replicas) == (1, 0)
