"""The index audit finds what differs between the index and the live content, and its repairs, run by the
real worker, bring the difference back to zero."""

from __future__ import annotations

import json
from dataclasses import replace
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from knowledgebase.index_audit import index_audit, index_audit_fix
from knowledgebase.models import IndexingJob
from search.backends import get_search_backend
from search.services import index_embedder
from search.values import Visibility
from tests.factories import heading, make_chunk, make_item, paragraph, user
from tests.knowledgebase.conftest import wait_for_jobs

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker", "clean_index"),
]


def _page(make_page: Any, title: str, text: str) -> Any:
    page = make_page(title, [heading("About"), paragraph(text)])
    wait_for_jobs("page", page.pk)
    return page


def _all_jobs_done() -> None:
    for source_type, source_id in IndexingJob.objects.values_list("source_type", "source_id").distinct():
        wait_for_jobs(source_type, source_id, timeout=120)


def test_missing_stale_duplicate_and_orphan_chunks_are_found_then_repaired(make_page: Any) -> None:
    lost = _page(make_page, "Lost", "The pangolin page loses its chunks.")
    old = _page(make_page, "Old", "The tapir page gets an old revision.")
    doubled = _page(make_page, "Doubled", "The quokka page gets a chunk twice.")
    report = index_audit()
    assert report.differences == 0, report.as_dict()
    assert report.sources >= 3 and report.chunks >= 3

    backend = get_search_backend()
    dimensions = index_embedder().dimensions
    # What a lost delete, a stale replay, a double write and a forgotten removal leave behind.
    backend.delete_source("page", lost.pk)
    [stale] = [c for c in backend.get_chunks(list(backend.stored_hashes("page", old.pk)))]
    backend.index_chunks([make_item(replace(stale, revision=1), None)], dimensions=dimensions)
    [kept] = backend.get_chunks(list(backend.stored_hashes("page", doubled.pk)))
    extra = replace(kept, chunk_id=f"{kept.chunk_id}-again")
    backend.index_chunks([make_item(extra, [0.1] * dimensions)], dimensions=dimensions)
    orphan = make_chunk(987_654, 0, revision=1)
    backend.index_chunks([make_item(orphan, [0.2] * dimensions)], dimensions=dimensions)

    report = index_audit()
    assert report.missing == [f"page:{lost.pk}"]
    assert list(report.stale) == [f"page:{old.pk}"] and "revision 1 indexed" in report.stale[f"page:{old.pk}"]
    assert report.duplicate == [f"page:{doubled.pk}"]
    assert report.orphan == ["page:987654"]

    assert index_audit_fix(report) == 4
    _all_jobs_done()
    after = index_audit()
    assert after.differences == 0, after.as_dict()
    assert not backend.get_chunks([orphan.chunk_id, extra.chunk_id])


def test_access_changed_behind_the_index_is_stale(make_page: Any) -> None:
    page = _page(make_page, "Open", "The okapi page was public when indexed.")
    backend = get_search_backend()
    [chunk] = backend.get_chunks(list(backend.stored_hashes("page", page.pk)))
    backend.index_chunks(
        [make_item(replace(chunk, visibility=Visibility.LOGIN), None)], dimensions=index_embedder().dimensions
    )
    report = index_audit()
    assert report.stale == {f"page:{page.pk}": "access login [] indexed, public [] is live"}


def test_the_command_reports_json_checks_and_fixes(make_page: Any, client: Any) -> None:
    page = _page(make_page, "Command", "The axolotl page is audited by command.")
    get_search_backend().delete_source("page", page.pk)
    out = StringIO()
    call_command("index_audit", "--json", stdout=out)
    assert json.loads(out.getvalue())["counts"] == {"missing": 1, "stale": 0, "duplicate": 0, "orphan": 0}
    with pytest.raises(CommandError, match="differs from the live content in 1 sources"):
        call_command("index_audit", "--check", stdout=StringIO())

    # The last report heads the admin's Indexing jobs view and is exported to /metrics.
    client.force_login(user("root", is_superuser=True, is_staff=True))
    listing = client.get("/admin/indexing_jobs/").content.decode()
    assert "Index audit" in listing and "1 missing" in listing
    metrics = client.get("/metrics").content.decode()
    assert 'knowledge_index_audit_differences{kind="missing"} 1.0' in metrics

    fixed = StringIO()
    call_command("index_audit", "--fix", stdout=fixed)
    assert "Queued 1 repairs." in fixed.getvalue()
    wait_for_jobs("page", page.pk)
    call_command("index_audit", "--check", stdout=StringIO())  # no difference left: no error
