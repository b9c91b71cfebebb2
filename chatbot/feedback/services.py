"""Writes on answer feedback: resolving it, and turning a thumbs-down with a comment into editorial work
(a Wagtail comment on each cited page, or an e-mail to the owner of each cited page or document).

The question and the comment are PII-masked before they reach a comment or an e-mail: editors need the
gist, not the asker's phone number.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from wagtail.admin.admin_url_finder import AdminURLFinder
from wagtail.models import Comment

from chatbot.feedback.selectors import feedback_for_source, feedback_with_question
from chatbot.logging import mask_pii
from chatbot.models import Message, MessageFeedback
from datacollection.celery import task_send
from knowledgebase.selectors import sources_by_key

logger = logging.getLogger(__name__)

ACTION_NONE, ACTION_COMMENT, ACTION_NOTIFY = "none", "comment", "notify"
# Where feedback_act records what it did, so a redelivered task does nothing twice.
METADATA_KEY = "editorial_action"
# The key under which a rating's metadata keeps what the client sent (the rest is the server's own).
CLIENT_METADATA = "client"


def feedback_save(
    message: Message, *, user: Any, rating: str, comment: str, metadata: dict[str, Any]
) -> tuple[MessageFeedback, bool]:
    """The user's one rating of `message`, created or replaced; the client's metadata replaces theirs and
    leaves what the server recorded on the feedback alone."""
    with transaction.atomic():
        feedback, created = MessageFeedback.objects.select_for_update().get_or_create(
            message=message,
            user=user,
            defaults={"rating": rating, "comment": comment, "metadata": {CLIENT_METADATA: metadata}},
        )
        if not created:
            feedback.rating, feedback.comment = rating, comment
            feedback.metadata = {**(feedback.metadata or {}), CLIENT_METADATA: metadata}
            feedback.save()
    return feedback, created


def feedback_resolve(feedback: QuerySet[MessageFeedback], *, user: Any) -> int:
    """Marks the feedback resolved by `user`; returns how many items changed."""
    return feedback.filter(resolved=False).update(resolved=True, resolved_by=user, resolved_at=timezone.now())


def feedback_reopen(feedback: QuerySet[MessageFeedback]) -> int:
    return feedback.filter(resolved=True).update(resolved=False, resolved_by=None, resolved_at=None)


def source_feedback_resolve(source_type: str, source_id: int, *, user: Any) -> int:
    """Resolves every open thumbs-down on answers citing the source (the report's row action)."""
    feedback = feedback_for_source(source_type, source_id).filter(rating=MessageFeedback.Rating.DOWN)
    return feedback_resolve(feedback, user=user)


def feedback_needs_action(feedback: MessageFeedback) -> bool:
    return feedback.rating == MessageFeedback.Rating.DOWN and bool(feedback.comment.strip())


def feedback_action_enqueue(feedback: MessageFeedback) -> None:
    """After the save commits, queue the configured action for a thumbs-down with a comment."""
    action = settings.CHAT_FEEDBACK_ACTION
    if action == ACTION_NONE or not feedback_needs_action(feedback):
        return

    feedback_id = feedback.pk
    transaction.on_commit(lambda: task_send("chatbot.feedback_act", args=(feedback_id, action)))


@transaction.atomic
def feedback_act(feedback_id: int, *, action: str) -> list[str]:
    """Comments on / notifies about each source the rated answer cited; returns what was done
    ("comment:page:12", "email:ana@example.com"). Does nothing for feedback it already acted on."""
    feedback = (
        feedback_with_question(MessageFeedback.objects.filter(pk=feedback_id))
        .select_for_update(of=("self",))
        .select_related("message", "user")
        .first()
    )
    if feedback is None:
        logger.info("feedback %s is gone; nothing to do", feedback_id)
        return []
    if METADATA_KEY in feedback.metadata or not feedback_needs_action(feedback):
        return []
    question = mask_pii(feedback.question or "")  # type: ignore[attr-defined]
    done: list[str] = []
    owners: dict[str, list[Any]] = {}
    for source in _cited_sources(feedback):
        if action == ACTION_COMMENT and source.__class__.__name__ != "KnowledgeDocument":
            page_comment_add(source, feedback=feedback, question=question)
            done.append(f"comment:page:{source.pk}")
            continue
        email = getattr(getattr(source, "owner", None), "email", "")
        if email:
            owners.setdefault(email, []).append(source)
    for email, sources in owners.items():
        owner_notify(email, sources=sources, feedback=feedback, question=question)
        done.append(f"email:{email}")
    feedback.metadata = {
        **feedback.metadata,
        METADATA_KEY: {"action": action, "done": done, "at": timezone.now().isoformat()},
    }
    feedback.save(update_fields=["metadata", "updated_at"])
    return done


def _cited_sources(feedback: MessageFeedback) -> list[Any]:
    keys = list(feedback.message.cited_sources.order_by("number").values_list("source_type", "source_id"))
    found = sources_by_key(keys)
    return [found[key] for key in dict.fromkeys(keys) if key in found]


def _feedback_text(feedback: MessageFeedback, *, question: str) -> str:
    return (
        "Chat feedback: an answer citing this page was rated not helpful.\n"
        f"Question: {question or '(unknown)'}\n"
        f"Comment: {mask_pii(feedback.comment.strip())}"
    )


def page_comment_add(page: Any, *, feedback: MessageFeedback, question: str) -> Any:
    """A Wagtail comment on the page's first body block (or its title), by the person who rated."""

    body = getattr(page, "body", None)
    first_block = next(iter(body), None) if body is not None else None
    contentpath = f"body.{first_block.id}" if first_block is not None and first_block.id else "title"
    text = _feedback_text(feedback, question=question)
    # The same feedback never comments twice, even if the metadata marker was lost (a stale copy of the
    # feedback saved over it); an edited comment is new text and is posted.
    existing = Comment.objects.filter(page=page, user=feedback.user, text=text).first()
    if existing is not None:
        return existing
    comment = Comment.objects.create(page=page, user=feedback.user, text=text, contentpath=contentpath)
    comment.log_create(user=feedback.user)
    return comment


def owner_notify(email: str, *, sources: list[Any], feedback: MessageFeedback, question: str) -> None:
    finder = AdminURLFinder()
    base = settings.WAGTAILADMIN_BASE_URL.rstrip("/")
    lines = [
        f"- {source.title}: {base}{finder.get_edit_url(source) or reverse('wagtailadmin_home')}"
        for source in sources
    ]
    body = (
        "Someone rated an answer citing your knowledge as unhelpful.\n\n"
        f"Question: {question or '(unknown)'}\n"
        f"Comment: {mask_pii(feedback.comment.strip())}\n\n"
        "Cited:\n" + "\n".join(lines) + "\n\n"
        f"Answer feedback by page: {base}{reverse('chatbot_feedback_report')}\n"
    )
    send_mail(
        subject=f"Chat feedback on {sources[0].title}"
        + (f" and {len(sources) - 1} more" if len(sources) > 1 else ""),
        message=body,
        from_email=settings.CHAT_FEEDBACK_NOTIFY_FROM or None,
        recipient_list=[email],
    )
