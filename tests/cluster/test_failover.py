"""Failover on a real three-node Elasticsearch cluster (`pytest -m cluster`).

A module fixture starts the cluster with `scripts/services.sh cluster up` (three nodes on 9201-9203, one
cluster) and stops it afterwards. The product's index lives on it through the settings alone: the backend
lists the three nodes' URLs and creates its index with one replica. While 20 askers ask questions (the
answer service, as the API calls it) and an editor publishes pages (each indexed by the same code the
worker runs), the node holding the index's primary shard is killed with SIGKILL. Every answer must
complete, every publish must be saved and indexed (a job that met the engine mid-failover is retried as
the worker's task would be); once the node is restarted the cluster returns to green and the index
audit finds no difference.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import close_old_connections, connection
from django.test import override_settings

from tests.chatbot.api_helpers import fresh_rate_limits, indexed_page, token_user
from tests.factories import heading, knowledge_page, paragraph, site_home
from tests.services import ROOT

# Starting three JVMs side by side takes 1-3 minutes on two busy cores, restarting the killed one about one
# more: past the suite's 300 s default when the machine is shared.
pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True), pytest.mark.timeout(720)]

SERVICES = ROOT / "scripts" / "services.sh"
NODES = {1: 9201, 2: 9202, 3: 9203}
ASKERS = 20
QUESTIONS_PER_ASKER = 6
EDITOR_PAGES = 12
QUESTION = "How long does the zanzibarite cache keep a template?"
SECTIONS = [
    ("Frobnication", "The zanzibarite cache keeps each template for nine days before rendering it again."),
    ("Unrelated", "Quokkas are small marsupials that live on Rottnest Island."),
]


def _services(*args: str, timeout: float = 400) -> None:
    result = subprocess.run(
        ["bash", str(SERVICES), "cluster", *args], capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _get(path: str, port: int | None = None) -> Any:
    ports = [port] if port else list(NODES.values())
    last: Exception | None = None
    for p in ports:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{p}{path}", timeout=5) as response:
                return json.loads(response.read())
        except OSError as e:
            last = e
    raise AssertionError(f"no cluster node answered {path}: {last}")


def _node_pid(number: int) -> int:
    """The JVM of es0N, from the pid file `services.sh` wrote."""
    base = ROOT / ".services"
    link = base / "elasticsearch"
    if link.is_symlink():
        base = link.resolve()
    return int((base / "cluster" / f"es0{number}" / "run" / "elasticsearch.pid").read_text().strip())


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    if os.geteuid() != 0:
        pytest.fail("the cluster test starts Elasticsearch as the elasticsearch user: run it as root")
    _services("up")
    yield
    _services("down")


@dataclass
class Outcomes:
    answers: list[str] = field(default_factory=list)  # the saved message's status per question
    failures: list[str] = field(default_factory=list)
    published: list[int] = field(default_factory=list)
    retried_jobs: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _asker(number: int, start: threading.Event, outcomes: Outcomes) -> None:
    from chatbot.models import ChatSession, Message
    from chatbot.services import answer_complete

    try:
        start.wait()
        account = get_user_model().objects.get(username=f"asker-{number}")
        for _ in range(QUESTIONS_PER_ASKER):
            session = ChatSession.objects.create(user=account)
            try:
                reply = answer_complete(session=session, user=account, question=QUESTION)
                status = reply.status
                ok = status == Message.Status.COMPLETE and "nine days" in reply.content
            except Exception as e:  # noqa: BLE001 - every failure is counted, none may happen
                status, ok = f"raised {type(e).__name__}: {e}", False
            with outcomes.lock:
                outcomes.answers.append(str(status))
                if not ok:
                    outcomes.failures.append(f"asker {number}: {status}")
    finally:
        close_old_connections()
        connection.close()


def _editor(start: threading.Event, outcomes: Outcomes) -> None:
    from knowledgebase.models import IndexingJob
    from knowledgebase.services import source_sync
    from search.errors import SearchUnavailable

    try:
        start.wait()
        for i in range(EDITOR_PAGES):
            page = knowledge_page(
                site_home(),
                title=f"Failover note {i}",
                body=[
                    heading("Note"),
                    paragraph(f"Failover note number {i} about the quokka ferry timetable."),
                ],
            )
            job = IndexingJob.objects.filter(source_type="page", source_id=page.pk).latest("pk")
            for attempt in range(10):  # the worker's task retries a transient error the same way
                try:
                    job = source_sync(job)
                    break
                except SearchUnavailable:
                    with outcomes.lock:
                        outcomes.retried_jobs += 1
                    job.refresh_from_db()
                    time.sleep(1.0 + attempt)
            with outcomes.lock:
                if job.status == IndexingJob.Status.INDEXED:
                    outcomes.published.append(page.pk)
                else:
                    outcomes.failures.append(f"page {page.pk}: job {job.status} {job.error_code}")
            time.sleep(0.5)
    finally:
        close_old_connections()
        connection.close()


def test_a_data_node_killed_under_load_loses_no_answer_and_no_publish(cluster: None) -> None:
    from knowledgebase.index_audit import index_audit
    from search.backends import get_search_backend

    index = f"test-cluster-{uuid.uuid4().hex[:10]}"
    default = settings.KNOWLEDGE_SEARCH_BACKENDS["default"]
    backends = {
        "default": {
            **default,
            "BACKEND": "search.backends.elasticsearch",
            "URLS": [f"http://127.0.0.1:{port}" for port in NODES.values()],
            "INDEX": index,
            "TIMEOUT": 20.0,
            "OPTIONS": {**default.get("OPTIONS", {}), "number_of_replicas": 1},
        }
    }
    with (
        override_settings(
            KNOWLEDGE_SEARCH_BACKENDS=backends,
            CHATBOT_ANSWER_CACHE={**settings.CHATBOT_ANSWER_CACHE, "ENABLED": False},
        ),
        fresh_rate_limits(),
        # Jobs run in this process (the editor thread); nothing goes to a worker through Redis.
        mock.patch("knowledgebase.services.indexing_job_send", return_value=True),
    ):
        try:
            indexed_page("Caching guide", SECTIONS)
            settings_of = _get(f"/{index}/_settings?filter_path=*.settings.index.number_of_replicas")
            assert [s["settings"]["index"]["number_of_replicas"] for s in settings_of.values()] == ["1"]
            _get(f"/_cluster/health/{index}?wait_for_status=green&timeout=60s")
            for number in range(ASKERS):
                token_user(f"asker-{number}")

            outcomes = Outcomes()
            start = threading.Event()
            threads = [
                threading.Thread(target=_asker, args=(n, start, outcomes), name=f"asker-{n}")
                for n in range(ASKERS)
            ]
            threads.append(threading.Thread(target=_editor, args=(start, outcomes), name="editor"))
            for thread in threads:
                thread.start()
            began = time.monotonic()
            start.set()

            # Kill the node holding the primary shard once the load runs.
            while len(outcomes.answers) < ASKERS and time.monotonic() - began < 60:
                time.sleep(0.2)
            shards = _get(f"/_cat/shards/{index}?format=json&h=prirep,node,state")
            primary = next(s["node"] for s in shards if s["prirep"] == "p")
            victim = int(primary.removeprefix("es0"))
            answered_before_kill = len(outcomes.answers)
            os.kill(_node_pid(victim), signal.SIGKILL)
            killed_at = time.monotonic()

            for thread in threads:
                thread.join(timeout=240)
            assert not any(thread.is_alive() for thread in threads), "askers or editor still running"
            load_seconds = time.monotonic() - began

            _services("start", str(victim))
            health = _get("/_cluster/health?wait_for_status=green&timeout=120s")
            recovered_seconds = time.monotonic() - killed_at

            report = index_audit()
            figures = {
                "answers": len(outcomes.answers),
                "answered_after_kill": len(outcomes.answers) - answered_before_kill,
                "failures": outcomes.failures,
                "pages_published": len(outcomes.published),
                "jobs_retried": outcomes.retried_jobs,
                "killed": primary,
                "load_seconds": round(load_seconds, 1),
                "green_after_kill_seconds": round(recovered_seconds, 1),
                "audit": report.counts(),
            }
            print("cluster failover:", json.dumps(figures))
            assert outcomes.failures == [], figures
            assert len(outcomes.answers) == ASKERS * QUESTIONS_PER_ASKER, figures
            assert figures["answered_after_kill"] > 0, figures
            assert len(outcomes.published) == EDITOR_PAGES, figures
            assert health["status"] == "green" and health["number_of_nodes"] == len(NODES), health
            assert report.differences == 0, report.as_dict()
            assert report.sources == EDITOR_PAGES + 1, report.as_dict()
        finally:
            get_search_backend().drop()
