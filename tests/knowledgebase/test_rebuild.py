"""`manage.py reindex --all --rebuild` (knowledgebase.services.index_rebuild) against real Elasticsearch:
writes made while it runs reach the new index, the alias switches to it in one step and no index is left
behind (issue 19, item 3)."""

from __future__ import annotations

from typing import Any

import pytest

from knowledgebase import services
from knowledgebase.index_audit import index_audit
from knowledgebase.models import IndexingJob
from search.backends import get_search_backend
from search.values import Principal
from tests.factories import heading, paragraph

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("clean_index", "jobs_stay_queued"),
]


def _found(word: str) -> list[str]:
    hits = get_search_backend().search_text(word, principal=Principal(), k=5)
    return sorted({h.chunk.source_key for h in hits})


def _worker_runs_queued_jobs() -> None:
    for job in IndexingJob.objects.filter(status=IndexingJob.Status.QUEUED).order_by("pk"):
        services.source_sync(job)


def _concrete_indices() -> set[str]:
    backend: Any = get_search_backend()
    return set(backend.client.indices.get(index=f"{backend.index_name}-*", ignore_unavailable=True))


def test_writes_made_during_a_rebuild_reach_the_new_index(make_page: Any) -> None:
    edited = make_page("Edited", [heading("One"), paragraph("The quokka smiles at visitors.")])
    kept = make_page("Kept", [heading("One"), paragraph("The tapir sleeps all day.")])
    deleted = make_page("Deleted", [heading("One"), paragraph("The pangolin curls into a ball.")])
    _worker_runs_queued_jobs()
    assert _found("quokka") == [f"page:{edited.pk}"]
    before = _concrete_indices()
    assert len(before) == 1
    assert services.live_sources()[0] == ("page", edited.pk), "the rebuild reads the edited page first"
    added: dict[str, Any] = {}

    def editors_meanwhile(done: int, total: int) -> None:
        """After the rebuild has read the first page: it is edited, another deleted, one added, and the
        worker indexes those changes (into the index still served)."""
        if done != 1:
            return
        edited.body = [heading("One"), paragraph("The okapi hides in the forest.")]
        edited.save_revision().publish()
        deleted.delete()
        added["page"] = make_page("Added", [heading("One"), paragraph("The narwhal dives deep.")])
        _worker_runs_queued_jobs()

    report = services.index_rebuild(progress=editors_meanwhile)
    assert added, "the edits ran during the rebuild"
    assert _found("okapi") == [f"page:{edited.pk}"] and _found("quokka") == []
    assert _found("narwhal") == [f"page:{added['page'].pk}"]
    assert _found("pangolin") == []
    assert _found("tapir") == [f"page:{kept.pk}"]
    assert report["caught_up"] == 3
    audit = index_audit()
    assert audit.differences == 0, audit
    after = _concrete_indices()
    assert len(after) == 1 and after.isdisjoint(before), "one new index behind the alias, the old one gone"
    backend: Any = get_search_backend()
    assert set(backend.client.indices.get_alias(name=backend.index_name)) == after
