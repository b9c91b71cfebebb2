"""The real parts: a Celery round trip through Redis to a worker process, PostgreSQL, Elasticsearch."""

import os
import uuid

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from elasticsearch import Elasticsearch

from datacollection.tasks import ping


def test_celery_task_round_trip_through_redis_to_the_worker(celery_worker):
    result = ping.delay("hello worker")
    reply = result.get(timeout=30)
    assert reply["reply"] == "rekrow olleh"
    # Executed by another process: the worker, not this one (no eager mode).
    assert not reply["worker"].endswith(f":{os.getpid()}")
    assert settings.CELERY_TASK_ALWAYS_EAGER is False


@pytest.mark.django_db
def test_postgresql_write_and_read():
    assert connection.vendor == "postgresql"
    user_model = get_user_model()
    assert user_model._meta.label == "datacollection.User"
    user_model.objects.create_user(username="pg-probe", password="x" * 12)
    assert user_model.objects.get(username="pg-probe").check_password("x" * 12)


@pytest.fixture
def es_index():
    client = Elasticsearch(settings.ELASTICSEARCH_URL, request_timeout=30)
    name = f"test-probe-{uuid.uuid4().hex[:8]}"
    yield client, name
    client.indices.delete(index=name, ignore_unavailable=True)


def test_elasticsearch_dense_vector_and_bm25_mapping_round_trip(es_index):
    client, name = es_index
    health = client.cluster.health()
    assert health["status"] in {"green", "yellow"}
    nodes = client.nodes.info(node_id="_local", filter_path="nodes.*.version")["nodes"]
    assert all(node["version"].startswith("8.") for node in nodes.values())
    client.indices.create(
        index=name,
        mappings={
            "properties": {
                "body": {"type": "text"},
                "vector": {
                    "type": "dense_vector",
                    "dims": 3,
                    "index": True,
                    "similarity": "cosine",
                    "index_options": {"type": "int8_hnsw"},
                },
            }
        },
    )
    docs = {
        "a": ("wagtail pages and revisions", [1.0, 0.0, 0.0]),
        "b": ("celery workers consume tasks", [0.0, 1.0, 0.0]),
        "c": ("elasticsearch stores vectors", [0.0, 0.0, 1.0]),
    }
    for doc_id, (body, vector) in docs.items():
        client.index(index=name, id=doc_id, document={"body": body, "vector": vector})
    client.indices.refresh(index=name)

    knn = client.search(
        index=name, knn={"field": "vector", "query_vector": [0.1, 0.9, 0.0], "k": 1, "num_candidates": 10}
    )
    assert [h["_id"] for h in knn["hits"]["hits"]] == ["b"]
    match = client.search(index=name, query={"match": {"body": "revisions"}})
    assert [h["_id"] for h in match["hits"]["hits"]] == ["a"]
