"""Rapid republishes coalesce and an older revision never overwrites a newer one (services run in this
process, against real Elasticsearch, so the order of events is under the test's control)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from knowledgebase import services
from knowledgebase.index_audit import index_audit
from knowledgebase.models import IndexedSource, IndexingJob
from search import services as search_services
from search.backends import get_search_backend
from search.values import Principal
from tests.factories import heading, paragraph

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("clean_index", "jobs_stay_queued"),
]


def _job(page, **extra):
    return IndexingJob.objects.create(source_type="page", source_id=page.pk, reason="test", **extra)


def _found(word):
    return [h.chunk.source_key for h in get_search_backend().search_text(word, principal=Principal(), k=5)]


def test_an_earlier_job_is_superseded_by_a_later_queued_one(make_page):
    page = make_page("Burst", [heading("One"), paragraph("The tapir text.")])
    IndexingJob.objects.all().delete()
    first, second = _job(page), _job(page)

    assert services.source_sync(first).status == IndexingJob.Status.SUPERSEDED
    assert _found("tapir") == []
    assert services.source_sync(second).status == IndexingJob.Status.INDEXED
    assert _found("tapir") == [f"page:{page.pk}"]


def test_an_older_revision_never_overwrites_a_newer_one(make_page):
    page = make_page("Race", [heading("One"), paragraph("The gharial text.")])
    IndexingJob.objects.all().delete()
    assert services.source_sync(_job(page)).status == IndexingJob.Status.INDEXED
    state = IndexedSource.objects.get(source_type="page", source_id=page.pk)
    assert state.revision_id is not None
    newer = state.revision_id + 1000
    # A newer revision was indexed meanwhile (by another worker); this job read the older live revision.
    IndexedSource.objects.filter(pk=state.pk).update(revision_id=newer)

    late = services.source_sync(_job(page))
    assert late.status == IndexingJob.Status.SUPERSEDED
    assert IndexedSource.objects.get(pk=state.pk).revision_id == newer


def test_a_finished_job_delivered_again_does_nothing(make_page):
    page = make_page("Again", [heading("One"), paragraph("The dugong text.")])
    IndexingJob.objects.all().delete()
    job = services.source_sync(_job(page))
    finished_at = job.finished_at
    again = services.source_sync(IndexingJob.objects.get(pk=job.pk))
    assert again.status == IndexingJob.Status.INDEXED and again.finished_at == finished_at


# --- under concurrency and replay (issue 19, item 3) ----------------------------------------------
def test_an_older_revision_racing_a_newer_one_never_overwrites_it(make_page, monkeypatch):
    """Two workers index the same page: the old one read revision 1, the new one revision 2. The old one
    writes after the new one's chunks are in but before the new one records its revision (the window the
    end-of-job check alone left open)."""
    page = make_page("Race", [heading("One"), paragraph("The gharial basks on the sandbank.")])
    IndexingJob.objects.all().delete()
    real_sync = search_services.source_sync
    old_read, new_written, old_done = threading.Event(), threading.Event(), threading.Event()

    def interleaved(*args, **kwargs):
        if threading.current_thread().name == "old":
            old_read.set()  # its content (revision 1) is read
            assert new_written.wait(60)
            try:
                return real_sync(*args, **kwargs)
            finally:
                old_done.set()
        written = real_sync(*args, **kwargs)
        new_written.set()
        assert old_done.wait(60)  # no lock is held here: the old worker runs its writes now
        return written

    monkeypatch.setattr(search_services, "source_sync", interleaved)
    old_job = _job(page)
    results = {}

    def run(name, job):
        try:
            results[name] = services.source_sync(job).status
        finally:
            connection.close()

    old = threading.Thread(target=run, args=("old", old_job), name="old")
    old.start()
    assert old_read.wait(60)
    page.body = [heading("One"), paragraph("The crocodile basks on the sandbank.")]
    page.save_revision().publish()
    new_job = _job(page)
    new = threading.Thread(target=run, args=("new", new_job), name="new")
    new.start()
    old.join(90)
    new.join(90)
    page.refresh_from_db()
    assert results == {"old": IndexingJob.Status.SUPERSEDED, "new": IndexingJob.Status.INDEXED}
    assert _found("crocodile") == [f"page:{page.pk}"]
    assert _found("gharial") == []
    state = IndexedSource.objects.get(source_type="page", source_id=page.pk)
    assert state.revision_id == page.live_revision_id
    assert index_audit().differences == 0


def test_a_stale_task_running_across_a_delete_writes_nothing(make_page, monkeypatch):
    """The task read the page, then the page was deleted and its removal ran, then the task writes."""
    page = make_page("Gone", [heading("One"), paragraph("The axolotl regrows its limbs.")])
    IndexingJob.objects.all().delete()
    assert services.source_sync(_job(page)).status == IndexingJob.Status.INDEXED
    stale = _job(page)
    real_sync = search_services.source_sync

    def deleted_meanwhile(*args, **kwargs):
        page.delete()
        removal = IndexingJob.objects.create(
            source_type="page", source_id=page.pk, action=IndexingJob.Action.REMOVE, reason="test"
        )
        assert services.source_sync(removal).status == IndexingJob.Status.REMOVED
        assert _found("axolotl") == []
        return real_sync(*args, **kwargs)

    monkeypatch.setattr(search_services, "source_sync", deleted_meanwhile)
    late = services.source_sync(stale)
    assert late.status == IndexingJob.Status.REMOVED
    assert _found("axolotl") == []
    assert list(get_search_backend().chunk_states()) == []
    assert not IndexedSource.objects.filter(source_type="page", source_id=page.pk).exists()
    assert index_audit().differences == 0
