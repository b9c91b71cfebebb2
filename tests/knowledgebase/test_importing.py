"""The background import (the demo knowledge of `make run`): front-matter privacy, progress, recovery."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from wagtail.models import PageViewRestriction

from knowledgebase.importing import import_run_start
from knowledgebase.models import ImportRun, IndexingJob, KnowledgePage
from knowledgebase.selectors import import_progress
from knowledgebase.services import MAX_DELIVERIES, jobs_recover
from search.selectors import hits_search
from search.values import Principal
from tests.knowledgebase.conftest import wait_for_jobs

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker", "clean_index"),
]

PUBLIC_MD = "# Watering\n\n## Schedule\n\nThe orchid house is watered every Thursday morning.\n"
LOGIN_MD = (
    "---\nvisibility: login\n---\n# Escalation\n\n## Rota\n\nThe quillwort rota names who is on call.\n"
)
GROUP_MD = (
    "---\nvisibility: groups\ngroups: [Editors]\n---\n# Policy\n\n## Review\n\n"
    "Every marshmallow policy page is reviewed by two editors.\n"
)


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "public.md").write_text(PUBLIC_MD)
    (tmp_path / "login.md").write_text(LOGIN_MD)
    (tmp_path / "group.md").write_text(GROUP_MD)
    return tmp_path


def _wait_for_import(timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = import_progress(include_complete=True)
        if progress is not None and progress.complete:
            return progress
        time.sleep(0.5)
    pytest.fail(f"the import did not finish in {timeout} s: {import_progress(include_complete=True)}")


def test_background_import_restricts_pages_by_front_matter_and_reports_progress(
    home: Any, tmp_path: Path
) -> None:
    Group.objects.get_or_create(
        name="Editors"
    )  # Wagtail's migration made it; an earlier test's flush may not
    run = import_run_start(_folder(tmp_path), parent_path="/docs/")
    assert run.files_total == 3
    progress = _wait_for_import()
    assert progress.status == "done"
    assert progress.pages_indexed == 3
    assert import_progress() is None  # complete: the home page stops showing it
    pages = {p.source_path: p for p in KnowledgePage.objects.exclude(source_path="")}
    login = PageViewRestriction.objects.get(page=pages["login.md"])
    assert login.restriction_type == PageViewRestriction.LOGIN
    group = PageViewRestriction.objects.get(page=pages["group.md"])
    assert group.restriction_type == PageViewRestriction.GROUPS
    assert [g.name for g in group.groups.all()] == ["Editors"]
    assert not PageViewRestriction.objects.filter(page=pages["public.md"]).exists()

    anonymous = Principal()
    assert not [
        h
        for h in hits_search("quillwort rota on call", principal=anonymous, k=5)
        if "quillwort" in h.chunk.text
    ]
    assert not [
        h
        for h in hits_search("marshmallow policy reviewed", principal=anonymous, k=5)
        if "marshmallow" in h.chunk.text
    ]
    assert [
        h
        for h in hits_search("orchid watered Thursday", principal=anonymous, k=5)
        if "orchid" in h.chunk.text
    ]


def test_unknown_group_skips_that_file_with_its_reason(home: Any, tmp_path: Path) -> None:
    (tmp_path / "ok.md").write_text(PUBLIC_MD)
    (tmp_path / "bad.md").write_text("---\nvisibility: groups\ngroups: [Nobody]\n---\n# Bad\n\nText.\n")
    import_run_start(tmp_path, parent_path="/docs/")
    progress = _wait_for_import()
    assert progress.status == "done"
    assert "Nobody" in progress.error
    assert list(KnowledgePage.objects.exclude(source_path="").values_list("source_path", flat=True)) == [
        "ok.md"
    ]


def test_bootstrap_demo_queues_once(home: Any, tmp_path: Path) -> None:
    call_command("bootstrap_demo", docs=_folder(tmp_path), verbosity=0)
    call_command("bootstrap_demo", docs=_folder(tmp_path), verbosity=0)
    assert ImportRun.objects.count() == 1
    _wait_for_import()


def test_jobs_a_dead_worker_left_processing_are_requeued_then_poisoned(home: Any, tmp_path: Path) -> None:
    (tmp_path / "public.md").write_text(PUBLIC_MD)
    call_command("import_markdown", str(tmp_path), parent="/docs/", verbosity=0)
    page = KnowledgePage.objects.get(source_path="public.md")
    wait_for_jobs("page", page.pk)
    job = IndexingJob.objects.create(source_type="page", source_id=page.pk, status="processing", attempts=1)
    assert jobs_recover()["requeued"] == 1
    job.refresh_from_db()
    assert job.status in {"queued", "processing", "indexed", "superseded"}
    wait_for_jobs("page", page.pk)
    assert IndexingJob.objects.get(pk=job.pk).is_finished

    # Interrupted once before: this second interruption makes the next delivery its third.
    poison = IndexingJob.objects.create(
        source_type="page",
        source_id=page.pk,
        status="processing",
        attempts=5,
        interruptions=MAX_DELIVERIES - 2,
    )
    assert jobs_recover()["poisoned"] == 1
    poison.refresh_from_db()
    assert poison.status == "failed"
    assert poison.error_code == "poison"
    assert poison.interruptions == MAX_DELIVERIES - 1
