"""Feedback becomes work: Wagtail comments or e-mails for a thumbs-down with a comment, idempotently, and
through a real Celery worker after the feedback's transaction commits."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core import mail
from django.test import override_settings

from tests.chatbot.test_feedback_data import answer, document, page, rate, section
from tests.factories import user


@pytest.mark.django_db
def test_comment_action_comments_on_each_cited_page_once() -> None:
    from wagtail.models import Comment

    from chatbot.feedback.services import feedback_act

    docs = section()
    install, upgrade = page(docs, "Install"), page(docs, "Upgrade")
    reply = answer(
        user("ana"), question="Install on ana@example.com's laptop?", cites=[install, upgrade, install]
    )
    feedback = rate(reply, reply.session.user, "down", "Wrong; call me on +44 20 7946 0958")

    done = feedback_act(feedback.pk, action="comment")
    assert done == [f"comment:page:{install.pk}", f"comment:page:{upgrade.pk}"]
    comment = Comment.objects.get(page=install)
    assert "Question: Install on [email]'s laptop?" in comment.text
    assert "Comment: Wrong; call me on [phone]" in comment.text
    first_block = next(iter(install.specific.body))
    assert comment.contentpath == f"body.{first_block.id}"
    assert comment.user == feedback.user

    assert feedback_act(feedback.pk, action="comment") == []  # a redelivered task does nothing twice
    assert Comment.objects.filter(page__in=[install, upgrade]).count() == 2
    feedback.refresh_from_db()
    assert feedback.metadata["editorial_action"]["done"] == done


@pytest.mark.django_db
def test_comment_is_shown_in_the_page_editor(client: Any) -> None:
    from chatbot.feedback.services import feedback_act

    target = page(section(), "Install")
    reply = answer(user("ana"), question="How to install?", cites=[target])
    feedback_act(rate(reply, reply.session.user, "down", "Missing steps").pk, action="comment")
    client.force_login(user("root", is_superuser=True, is_staff=True))
    html = client.get(f"/admin/pages/{target.pk}/edit/").content.decode()
    assert "Missing steps" in html  # the comments app's initial data


@pytest.mark.django_db
def test_notify_action_emails_owners_of_pages_and_documents() -> None:
    from chatbot.feedback.services import feedback_act

    owner = user("olga", email="olga@example.com")
    target = page(section(), "Install")
    target.owner = owner
    target.save()
    handbook = document("Handbook", owner=user("dan", email="dan@example.com"))
    reply = answer(user("ana"), question="How?", cites=[target, handbook])
    feedback = rate(reply, reply.session.user, "down", "Unclear")

    assert sorted(feedback_act(feedback.pk, action="notify")) == [
        "email:dan@example.com",
        "email:olga@example.com",
    ]
    assert sorted(m.to[0] for m in mail.outbox) == ["dan@example.com", "olga@example.com"]
    body = next(m for m in mail.outbox if m.to == ["olga@example.com"]).body
    assert "Question: How?" in body and "Comment: Unclear" in body
    assert f"/admin/pages/{target.pk}/edit/" in body


@pytest.mark.django_db
def test_documents_get_an_email_in_comment_mode_and_upvotes_nothing() -> None:
    from wagtail.models import Comment

    from chatbot.feedback.services import feedback_act

    handbook = document("Handbook", owner=user("dan", email="dan@example.com"))
    reply = answer(user("ana"), question="How?", cites=[handbook])
    assert feedback_act(rate(reply, user("ben"), "up", "great").pk, action="comment") == []
    assert feedback_act(rate(reply, user("cy"), "down", "").pk, action="comment") == []  # no comment
    assert feedback_act(rate(reply, user("dee"), "down", "old").pk, action="comment") == [
        "email:dan@example.com"
    ]
    assert Comment.objects.count() == 0


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@override_settings(CHAT_FEEDBACK_ACTION="comment")
def test_thumbs_down_with_comment_becomes_a_page_comment_through_the_worker(celery_worker: Any) -> None:
    from wagtail.models import Comment

    target = page(section(), "Install")
    reply = answer(user("ana"), question="How do I install?", cites=[target])
    rate(reply, reply.session.user, "up", "fine")  # not acted on
    feedback = rate(reply, user("ben"), "down", "Skips the database step")

    # Generous: the worker has one process and may first drain indexing tasks queued by earlier tests.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not Comment.objects.filter(page=target).exists():
        time.sleep(0.2)
    comment = Comment.objects.get(page=target)
    assert "Skips the database step" in comment.text and "How do I install?" in comment.text
    feedback.save()  # saved again (e.g. an edit): the task runs again and does nothing
    time.sleep(2)
    assert Comment.objects.filter(page=target).count() == 1


@pytest.mark.django_db
def test_no_action_is_queued_when_the_setting_is_none(django_capture_on_commit_callbacks: Any) -> None:
    target = page(section(), "Install")
    reply = answer(user("ana"), question="How?", cites=[target])
    with override_settings(CHAT_FEEDBACK_ACTION="none"), django_capture_on_commit_callbacks() as callbacks:
        rate(reply, user("ben"), "down", "bad")
    assert callbacks == []
    with override_settings(CHAT_FEEDBACK_ACTION="notify"), django_capture_on_commit_callbacks() as callbacks:
        rate(reply, user("cy"), "down", "bad")
        rate(reply, user("dee"), "up", "good")
    assert len(callbacks) == 1
