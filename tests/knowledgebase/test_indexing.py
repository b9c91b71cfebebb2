"""Publishing drives the index, through Redis and a real Celery worker into real Elasticsearch."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Group
from wagtail.models import PageViewRestriction

from knowledgebase.models import DocumentVersion, IndexedSource, IndexingJob
from search.backends import get_search_backend
from search.values import Principal
from tests.factories import heading, paragraph, user
from tests.knowledgebase.conftest import wait_for_jobs

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker", "clean_index"),
]

ANON = Principal.anonymous()


def found(word: str, principal: Principal = ANON) -> list[str]:
    """Source keys whose chunks match `word` by BM25, as `principal` would retrieve them."""
    hits = get_search_backend().search_text(word, principal=principal, k=20)
    return sorted({h.chunk.source_key for h in hits})


def _body(*sections: tuple[str, str]) -> list:
    body = []
    for title, text in sections:
        body += [heading(title), paragraph(text)]
    return body


def test_publish_makes_a_page_retrievable_with_its_heading_anchor(make_page):
    from chatbot.rag.cache import index_version

    version_before = index_version()
    page = make_page("Caching guide", _body(("Frobnication", "The zanzibarite cache frobnicates templates.")))
    jobs = wait_for_jobs("page", page.pk)
    assert jobs[0].status == IndexingJob.Status.INDEXED
    hits = get_search_backend().search_text("zanzibarite", principal=ANON, k=5)
    assert [h.chunk.source_key for h in hits] == [f"page:{page.pk}"]
    chunk = hits[0].chunk
    assert chunk.anchor == "frobnication"
    assert chunk.heading_path == ("Frobnication",)
    assert chunk.url == page.url
    # The rendered page carries the same id, so the citation deep-links.
    assert 'id="frobnication"' in page.serve(_request()).rendered_content
    # Cached answers computed before this page existed are no longer served.
    assert index_version() > version_before


def _request():
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    return request


def test_republish_replaces_old_text_and_reuses_unchanged_chunks(make_page):
    keep = " ".join(f"Stable sentence {i} about quokkas." for i in range(5))
    page = make_page("Versions", _body(("Kept", keep), ("Changed", "The old wording mentions xylophones.")))
    wait_for_jobs("page", page.pk)
    first = DocumentVersion.objects.get(source_type="page", source_id=page.pk)
    assert first.embedded_count == first.chunk_count == 2

    page.body = _body(("Kept", keep), ("Changed", "The new wording mentions marimbas."))
    page.save_revision().publish()
    wait_for_jobs("page", page.pk)

    assert found("xylophones") == []
    assert found("marimbas") == [f"page:{page.pk}"]
    assert found("quokkas") == [f"page:{page.pk}"]
    latest = DocumentVersion.objects.filter(source_type="page", source_id=page.pk).first()
    assert latest is not None
    assert latest.chunk_count == 2
    assert latest.embedded_count == 1, "the unchanged chunk must not be embedded again"
    assert len(get_search_backend().stored_hashes("page", page.pk)) == 2


def test_unpublish_and_delete_remove_the_page(make_page):
    one = make_page("One", _body(("A", "Platypus facts live here.")))
    two = make_page("Two", _body(("B", "Echidna facts live here.")))
    wait_for_jobs("page", one.pk)
    wait_for_jobs("page", two.pk)
    assert found("platypus") == [f"page:{one.pk}"]

    one.unpublish()
    wait_for_jobs("page", one.pk)
    assert found("platypus") == []
    assert not IndexedSource.objects.filter(source_type="page", source_id=one.pk).exists()

    two_id = two.pk
    two.delete()
    wait_for_jobs("page", two_id)
    assert found("echidna") == []


def test_private_and_group_restricted_pages_only_reach_permitted_principals(make_page):
    staff = Group.objects.create(name="Staff")
    member = user("member", groups=(staff,))
    outsider = user("outsider")
    login_page = make_page("Login only", _body(("Internal", "The wombat procedure is internal.")))
    group_page = make_page("Staff only", _body(("Secret", "The narwhal budget is for staff.")))
    wait_for_jobs("page", login_page.pk)
    wait_for_jobs("page", group_page.pk)
    assert found("wombat") == [f"page:{login_page.pk}"]

    PageViewRestriction.objects.create(page=login_page, restriction_type=PageViewRestriction.LOGIN)
    restriction = PageViewRestriction.objects.create(
        page=group_page, restriction_type=PageViewRestriction.GROUPS
    )
    restriction.groups.add(staff)
    wait_for_jobs("page", login_page.pk)
    wait_for_jobs("page", group_page.pk)

    assert found("wombat") == []
    assert found("wombat", Principal.from_user(outsider)) == [f"page:{login_page.pk}"]
    assert found("narwhal") == []
    assert found("narwhal", Principal.from_user(outsider)) == []
    assert found("narwhal", Principal.from_user(member)) == [f"page:{group_page.pk}"]


def test_password_protected_page_is_retrievable_by_nobody(make_page):
    page = make_page("Password", _body(("Vault", "The okapi combination is secret.")))
    wait_for_jobs("page", page.pk)
    PageViewRestriction.objects.create(page=page, restriction_type=PageViewRestriction.PASSWORD, password="x")
    wait_for_jobs("page", page.pk)
    assert found("okapi") == []
    assert found("okapi", Principal.from_user(user("someone"))) == []
    # Superusers too: Wagtail asks them for the password as well, and a chat cannot (search.visibility).
    admin = user("root", is_superuser=True, is_staff=True)
    assert found("okapi", Principal.from_user(admin)) == []


def test_moving_a_page_updates_its_url(make_page, section, home):
    from knowledgebase.models import KnowledgeIndexPage

    other = KnowledgeIndexPage(title="Elsewhere", slug="elsewhere")
    home.add_child(instance=other)
    other.save_revision().publish()
    page = make_page("Mover", _body(("Where", "The axolotl page moves.")))
    wait_for_jobs("page", page.pk)
    page.move(other, pos="last-child")
    page.refresh_from_db()
    wait_for_jobs("page", page.pk)
    [hit] = get_search_backend().search_text("axolotl", principal=ANON, k=5)
    assert hit.chunk.url == page.url
    assert "/elsewhere/" in hit.chunk.url


def test_a_draft_submitted_for_moderation_is_not_retrievable_until_approved(make_page, section):
    from wagtail.models import GroupApprovalTask, Workflow, WorkflowTask

    reviewer = user("reviewer", is_superuser=True, is_staff=True)
    page = make_page(
        "Moderated", _body(("Pending", "The pangolin announcement awaits approval.")), publish=False
    )
    workflow = Workflow.objects.get_or_create(name="Moderators approval")[0]
    if not WorkflowTask.objects.filter(workflow=workflow).exists():
        # (A flushed database has lost the default workflow; a workflow with no task publishes at once.)
        task = GroupApprovalTask.objects.create(name="Moderators approval")
        WorkflowTask.objects.create(workflow=workflow, task=task, sort_order=0)
    state = workflow.start(page, reviewer)
    time.sleep(1.0)  # give a (wrong) task the chance to run
    assert found("pangolin") == []
    jobs = list(
        IndexingJob.objects.filter(source_type="page", source_id=page.pk).values_list("reason", flat=True)
    )
    assert jobs == [], f"nothing may be queued for an unapproved draft: {jobs}"

    state.current_task_state.task.specific.on_action(state.current_task_state, reviewer, "approve")
    wait_for_jobs("page", page.pk)
    assert found("pangolin") == [f"page:{page.pk}"]


def test_search_engine_down_during_publish_retries_and_indexes_exactly_once(make_page, elasticsearch_proxy):
    elasticsearch_proxy.disable()
    try:
        page = make_page("Outage", _body(("Retry", "The quetzal page survives an outage.")))
        # Generous: the worker may first finish tasks earlier tests left behind.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            job = IndexingJob.objects.filter(source_type="page", source_id=page.pk).first()
            if job and job.error_code == "retrying":
                break
            time.sleep(0.2)
        assert job is not None and job.error_code == "retrying", "the worker should be waiting to retry"
        assert page.live, "the editor's publish succeeded while the engine was down"
    finally:
        elasticsearch_proxy.enable()
    jobs = wait_for_jobs("page", page.pk, timeout=90)
    assert jobs[0].status == IndexingJob.Status.INDEXED
    assert jobs[0].attempts >= 2
    assert found("quetzal") == [f"page:{page.pk}"]
    stored = get_search_backend().stored_hashes("page", page.pk)
    hits = get_search_backend().search_text("quetzal", principal=ANON, k=20)
    assert len(hits) == len(stored) == 1, "indexed exactly once"


def test_broker_down_never_fails_the_editors_save(make_page):
    from datacollection.celery import app

    def point_broker_at(url: str) -> None:
        # The app caches its connection pools; drop them so the next send connects to `url`.
        app.conf.update(broker_url=url)
        setattr(app, "_pool", None)  # noqa: B010
        setattr(app.amqp, "_producer_pool", None)  # noqa: B010

    original = app.conf.broker_url
    point_broker_at("redis://127.0.0.1:1/0")
    try:
        page = make_page("Broker down", _body(("Queue", "The capybara page is saved anyway.")))
    finally:
        point_broker_at(original)
    assert page.live
    job = IndexingJob.objects.get(source_type="page", source_id=page.pk)
    assert job.status == IndexingJob.Status.QUEUED

    from knowledgebase.tasks import requeue_stale_jobs

    IndexingJob.objects.filter(pk=job.pk).update(created_at=job.created_at.replace(year=2000))
    assert requeue_stale_jobs() == 1
    wait_for_jobs("page", page.pk)
    assert found("capybara") == [f"page:{page.pk}"]
