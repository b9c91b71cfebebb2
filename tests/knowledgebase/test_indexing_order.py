"""Rapid republishes coalesce and an older revision never overwrites a newer one (services run in this
process, against real Elasticsearch, so the order of events is under the test's control)."""

from __future__ import annotations

import pytest

from knowledgebase import services
from knowledgebase.models import IndexedSource, IndexingJob
from search.backends import get_search_backend
from search.values import Principal
from tests.factories import heading, paragraph

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_index")]


def _job(page, **extra):
    return IndexingJob.objects.create(source_type="page", source_id=page.pk, reason="test", **extra)


def _found(word):
    return [h.chunk.source_key for h in get_search_backend().search_text(word, principal=Principal(), k=5)]


def test_an_earlier_job_is_superseded_by_a_later_queued_one(make_page, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():  # keep the publish signal's own job out of the broker
        page = make_page("Burst", [heading("One"), paragraph("The tapir text.")])
    IndexingJob.objects.all().delete()
    first, second = _job(page), _job(page)

    assert services.source_sync(first).status == IndexingJob.Status.SUPERSEDED
    assert _found("tapir") == []
    assert services.source_sync(second).status == IndexingJob.Status.INDEXED
    assert _found("tapir") == [f"page:{page.pk}"]


def test_an_older_revision_never_overwrites_a_newer_one(make_page, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
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


def test_a_finished_job_delivered_again_does_nothing(make_page, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        page = make_page("Again", [heading("One"), paragraph("The dugong text.")])
    IndexingJob.objects.all().delete()
    job = services.source_sync(_job(page))
    finished_at = job.finished_at
    again = services.source_sync(IndexingJob.objects.get(pk=job.pk))
    assert again.status == IndexingJob.Status.INDEXED and again.finished_at == finished_at
