"""Builders shared by the feedback, dashboard and report tests (no tests here): knowledge pages in a
section, answers citing them at chosen times, and ratings through the API or the models."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from tests.factories import heading, knowledge_page, paragraph, site_home, user


def section(title: str = "Docs", slug: str = "docs") -> Any:
    from knowledgebase.models import KnowledgeIndexPage

    index = KnowledgeIndexPage(title=title, slug=slug)
    site_home().add_child(instance=index)
    index.save_revision().publish()
    return index


def page(parent: Any, title: str) -> Any:
    return knowledge_page(parent, title=title, body=[heading("Intro"), paragraph(f"About {title}.")])


def document(title: str = "Handbook", owner: Any = None) -> Any:
    from django.core.files.base import ContentFile

    from knowledgebase.models import KnowledgeDocument

    doc = KnowledgeDocument(title=title, owner=owner, kind="txt")
    doc.file.save(f"{title.lower()}.txt", ContentFile(b"Handbook text."), save=False)
    doc.save()
    return doc


def editor(username: str = "editor", **extra: Any) -> Any:
    """A member of Wagtail's "Editors" group: edits every page, no chat-log permission."""
    return user(username, groups=(Group.objects.get(name="Editors"),), **extra)


def chat_log_reader(username: str = "analyst") -> Any:
    account = editor(username)
    account.user_permissions.add(Permission.objects.get(codename="view_chat_logs"))
    return account


def answer(
    asker: Any,
    *,
    question: str,
    cites: list[Any] = (),  # type: ignore[assignment]
    at: datetime | None = None,
    content: str = "The answer [1].",
    **fields: Any,
) -> Any:
    """A user message and the assistant's answer citing `cites` (pages or documents), at time `at`."""
    from chatbot.models import ChatSession, Message, MessageSource

    session = ChatSession.objects.create(user=asker, title=question[:50])
    asked = Message.objects.create(session=session, role=Message.Role.USER, content=question)
    reply = Message.objects.create(session=session, role=Message.Role.ASSISTANT, content=content, **fields)
    for number, source in enumerate(cites, start=1):
        kind = "document" if source.__class__.__name__ == "KnowledgeDocument" else "page"
        MessageSource.objects.create(
            message=reply, number=number, source_type=kind, source_id=source.pk, title=source.title
        )
    if at is not None:
        Message.objects.filter(pk__in=[asked.pk, reply.pk]).update(created_at=at)
        reply.refresh_from_db()
    return reply


def rate(message: Any, rater: Any, rating: str, comment: str = "") -> Any:
    from chatbot.models import MessageFeedback

    return MessageFeedback.objects.create(message=message, user=rater, rating=rating, comment=comment)


def rate_via_api(client: Any, message: Any, rating: str, comment: str = "") -> Any:
    """The asker rates the answer through POST /api/chatbot/messages/<uuid>/feedback/."""
    from chatbot.models import MessageFeedback

    client.force_login(message.session.user)
    response = client.post(
        f"/api/chatbot/messages/{message.uuid}/feedback/",
        {"rating": rating, "comment": comment},
        content_type="application/json",
    )
    assert response.status_code in {200, 201}, response.content
    client.logout()
    return MessageFeedback.objects.get(message=message, user=message.session.user)


def days_ago(days: float) -> datetime:
    return timezone.now() - timedelta(days=days)
