"""Feedback becomes work: a saved thumbs-down with a comment queues the configured action."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save

from chatbot.feedback.services import feedback_action_enqueue
from chatbot.models import MessageFeedback


def feedback_saved(
    sender: type[MessageFeedback], instance: MessageFeedback, raw: bool = False, **kwargs: Any
) -> None:
    if raw:
        return

    feedback_action_enqueue(instance)


def register_signal_handlers() -> None:
    """Idempotent (dispatch_uid): called from chatbot/wagtail_hooks.py, which every process imports."""
    post_save.connect(feedback_saved, sender=MessageFeedback, dispatch_uid="chatbot.feedback.saved")
