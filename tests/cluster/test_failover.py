"""Failover on a real three-node Elasticsearch cluster (`pytest -m cluster`).

A module fixture starts the cluster with `scripts/services.sh cluster up` (three nodes on 9201-9203, one
cluster, and its two Celery workers: `worker` on the `interactive` queue, `worker-bulk` on `bulk`) and
stops it afterwards; the session's own worker is paused meanwhile so it cannot take the cluster's tasks.
The product's index lives on the cluster through the settings alone: the backend lists the three nodes'
URLs and creates its index with one replica. While 20 askers ask questions (the answer service, as the
API calls it) and an editor publishes pages (each job sent through Redis to the cluster's `worker`), the
node holding the index's primary shard is killed with SIGKILL. Every answer must complete, every publish
must be indexed (a job that met the engine mid-failover is retried by the worker's task); once the node
is restarted the cluster returns to green and the index audit finds no difference. Then `reindex --all
--queue` goes to `worker-bulk`, and the audit still finds no difference.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import close_old_connections, connection
from django.test import override_settings

from tests.chatbot.api_helpers import fresh_rate_limits, token_user
from tests.factories import heading, knowledge_page, paragraph, site_home
from tests.services import ROOT, database_url

# Starting three JVMs side by side takes 1-3 minutes on two busy cores, restarting the killed one about one
# more, the queued re-index a little: past the suite's 300 s default when the machine is shared.
pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True), pytest.mark.timeout(900)]

SERVICES = ROOT / "scripts" / "services.sh"
NODES = {1: 9201, 2: 9202, 3: 9203}
WORKERS = {"interactive@cluster": "interactive", "bulk@cluster": "bulk"}  # services.sh's hostnames
JOB_WAIT_SECONDS = 240
ASKERS = 20
QUESTIONS_PER_ASKER = 6
EDITOR_PAGES = 12
QUESTION = "How long does the zanzibarite cache keep a template?"
SECTIONS = [
    ("Frobnication", "The zanzibarite cache keeps each template for nine days before rendering it again."),
    ("Unrelated", "Quokkas are small marsupials that live on Rottnest Island."),
]


def _services(*args: str, env: dict[str, str] | None = None, timeout: float = 400) -> None:
    result = subprocess.run(
        ["bash", str(SERVICES), "cluster", *args], capture_output=True, text=True, timeout=timeout, env=env
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
def cluster(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    """The cluster and its two workers, bound to the test database, Redis and an index of this module;
    yields the index's name."""
    from tests.conftest import SESSION_WORKERS

    if os.geteuid() != 0:
        pytest.fail("the cluster test starts Elasticsearch as the elasticsearch user: run it as root")
    index = f"{settings.KNOWLEDGE_INDEX_NAME}-cluster"
    with django_db_blocker.unblock():
        db_url = database_url(connection.settings_dict)
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "DJANGO_SETTINGS_MODULE": "datacollection.settings.test",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "KNOWLEDGE_INDEX_NAME": index,
        "ELASTICSEARCH_TIMEOUT": "20",  # as the test's own backend below
        # A job that met the dead node is retried within seconds, not the default's minutes.
        "KNOWLEDGE_INDEXING_RETRY_BACKOFF_MAX": "8",
        "CLUSTER_PYTHON": sys.executable,
    }
    # The session's worker consumes both queues too: it would take the cluster workers' tasks.
    paused = [w for w in SESSION_WORKERS if w.process and w.process.poll() is None]
    for worker in paused:
        worker.stop()
    try:
        _services("up", env=env)
        yield index
    finally:
        try:
            _services("down")
        finally:
            for worker in paused:
                worker.start()


@dataclass
class Outcomes:
    answers: list[str] = field(default_factory=list)  # the saved message's status per question
    failures: list[str] = field(default_factory=list)
    published: list[int] = field(default_factory=list)  # page ids, indexed by the cluster's worker
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
    """Publishes pages; each publish queues its job on `interactive`, for the cluster's worker."""
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
            with outcomes.lock:
                outcomes.published.append(page.pk)
            time.sleep(0.5)
    except Exception as e:  # noqa: BLE001 - a publish that fails is counted, none may
        with outcomes.lock:
            outcomes.failures.append(f"editor raised {type(e).__name__}: {e}")
    finally:
        close_old_connections()
        connection.close()


def _jobs_finished(jobs: Iterable[Any], *, timeout: float = JOB_WAIT_SECONDS) -> list[Any]:
    """Waits (bounded) until every job is finished; returns them as last read."""
    from knowledgebase.models import IndexingJob

    pks = [job.pk for job in jobs]
    deadline = time.monotonic() + timeout
    while True:
        rows = list(IndexingJob.objects.filter(pk__in=pks).order_by("pk"))
        if all(row.is_finished for row in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def _page_jobs(page_ids: Iterable[int]) -> list[Any]:
    """The latest job of each page: the one that must end indexed (an earlier one may be superseded)."""
    from knowledgebase.models import IndexingJob

    return [IndexingJob.objects.filter(source_type="page", source_id=pk).latest("pk") for pk in page_ids]


def _not_indexed(jobs: Iterable[Any]) -> list[str]:
    return [
        f"{job.source_type}:{job.source_id} job {job.pk} {job.status} {job.error_code} {job.error[:200]}"
        for job in jobs
        if job.status != "indexed"
    ]


def _worker_queues() -> dict[str, set[str]]:
    from datacollection.celery import app

    answer = app.control.inspect(destination=list(WORKERS), timeout=5.0).active_queues() or {}
    return {name: {queue["name"] for queue in queues} for name, queues in answer.items()}


def test_a_data_node_killed_under_load_loses_no_answer_and_no_publish(cluster: str) -> None:
    from knowledgebase.index_audit import index_audit
    from knowledgebase.models import IndexingJob
    from search.backends import get_search_backend

    index = cluster
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
    assert _worker_queues() == {name: {queue} for name, queue in WORKERS.items()}
    with (
        override_settings(
            KNOWLEDGE_SEARCH_BACKENDS=backends,
            CHATBOT_ANSWER_CACHE={**settings.CHATBOT_ANSWER_CACHE, "ENABLED": False},
        ),
        fresh_rate_limits(),
    ):
        try:
            get_search_backend().drop()  # the index's name is fixed: an interrupted run may have left it
            guide = knowledge_page(
                site_home(),
                title="Caching guide",
                body=[block for name, text in SECTIONS for block in (heading(name), paragraph(text))],
            )
            assert _not_indexed(_jobs_finished(_page_jobs([guide.pk]))) == []
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
            editor_jobs = _jobs_finished(_page_jobs(outcomes.published))
            load_seconds = time.monotonic() - began

            _services("start", str(victim))
            health = _get("/_cluster/health?wait_for_status=green&timeout=120s")
            recovered_seconds = time.monotonic() - killed_at
            report = index_audit()

            # A full re-index on the bulk queue, for the cluster's worker-bulk.
            last_job = IndexingJob.objects.latest("pk").pk
            reindex_began = time.monotonic()
            call_command("reindex", "--all", "--queue", verbosity=0)
            bulk_jobs = _jobs_finished(IndexingJob.objects.filter(pk__gt=last_job))
            reindex_seconds = time.monotonic() - reindex_began
            report_after_reindex = index_audit()

            figures = {
                "answers": len(outcomes.answers),
                "answered_after_kill": len(outcomes.answers) - answered_before_kill,
                "failures": outcomes.failures,
                "pages_published": len(outcomes.published),
                "pages_indexed": sum(job.status == IndexingJob.Status.INDEXED for job in editor_jobs),
                "not_indexed": _not_indexed(editor_jobs),
                "jobs_retried": sum(job.attempts > 1 for job in editor_jobs),
                "task_retries": sum(max(job.attempts - 1, 0) for job in editor_jobs),
                "interruptions": sum(job.interruptions for job in editor_jobs),
                "killed": primary,
                "load_seconds": round(load_seconds, 1),
                "green_after_kill_seconds": round(recovered_seconds, 1),
                "audit": report.counts(),
                "reindex_jobs": len(bulk_jobs),
                "reindex_queues": sorted({job.queue for job in bulk_jobs}),
                "reindex_not_indexed": _not_indexed(bulk_jobs),
                "reindex_seconds": round(reindex_seconds, 1),
                "audit_after_reindex": report_after_reindex.counts(),
            }
            print("cluster failover:", json.dumps(figures))
            assert outcomes.failures == [], figures
            assert len(outcomes.answers) == ASKERS * QUESTIONS_PER_ASKER, figures
            assert figures["answered_after_kill"] > 0, figures
            assert len(outcomes.published) == EDITOR_PAGES, figures
            assert figures["not_indexed"] == [], figures
            assert figures["pages_indexed"] == EDITOR_PAGES, figures
            assert health["status"] == "green" and health["number_of_nodes"] == len(NODES), health
            assert report.differences == 0, report.as_dict()
            assert report.sources == EDITOR_PAGES + 1, report.as_dict()
            assert len(bulk_jobs) == EDITOR_PAGES + 1 and figures["reindex_queues"] == ["bulk"], figures
            assert figures["reindex_not_indexed"] == [], figures
            assert report_after_reindex.differences == 0, report_after_reindex.as_dict()
            assert report_after_reindex.sources == EDITOR_PAGES + 1, report_after_reindex.as_dict()
        finally:
            get_search_backend().drop()
