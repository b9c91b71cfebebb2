"""Chat sessions, messages with the sources they cite, and feedback on answers."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class ChatSession(models.Model):
    # Wagtail records every saved model's references to other objects for its "usage" views; chat logs
    # reference nothing an editor looks up, and the update ran on each saved question and answer (18% of
    # the server's busy samples with 100 questions at once, py-spy, benchmarks.streams).
    wagtail_reference_index_ignore = True

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_sessions")
    title = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    settings = models.JSONField(default=dict, blank=True)
    # Optional scope: source keys ("page:12", "document:3") the session's questions are limited to.
    scope = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["user", "-updated_at"])]
        permissions = [("view_chat_logs", "Can view chat logs")]

    def __str__(self) -> str:
        return self.title or f"Chat {self.uuid}"


class Message(models.Model):
    wagtail_reference_index_ignore = True  # see ChatSession

    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"

    class Status(models.TextChoices):
        COMPLETE = "complete", "Complete"
        PARTIAL = "partial", "Partial (interrupted)"
        ERROR = "error", "Error"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    # Cited chunks: [{"number", "source_type", "source_id", "chunk_id", "title", "section", "url", "anchor",
    # "page_number", "excerpt"}], in citation order.
    sources = models.JSONField(default=list, blank=True)
    tokens_used = models.PositiveIntegerField(default=0)
    response_time = models.FloatField(null=True, blank=True, help_text="Seconds until the answer completed.")
    retrieval_time = models.FloatField(null=True, blank=True, help_text="Seconds spent retrieving.")
    first_token_time = models.FloatField(null=True, blank=True, help_text="Seconds until the first token.")
    model = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    # What the asker is told (internal detail is logged, never stored here): a code and a message.
    error_code = models.CharField(max_length=40, blank=True)
    error = models.CharField(max_length=500, blank=True)
    cache_hit = models.BooleanField(default=False)
    declined = models.BooleanField(default=False, help_text="The knowledge base did not cover the question.")
    # On a decline: the pages and files retrieval found closest, which the answer could not quote from:
    # [{"source_type", "source_id", "title", "section", "url", "anchor", "page_number"}], best first.
    related = models.JSONField(default=list, blank=True)
    # chatbot.rag.quality: the mean of groundedness, retrieval confidence and coverage, 0..1; null for a
    # question, a decline or an error. `quality_components` holds the three (and the score).
    quality = models.FloatField(null=True, blank=True, db_index=True, help_text="Answer quality, 0..1.")
    quality_components = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["session", "created_at"]),
            models.Index(fields=["role", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"


class MessageSource(models.Model):
    """One source an answer cited: what per-page feedback roll-ups join on."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="cited_sources")
    number = models.PositiveSmallIntegerField()
    source_type = models.CharField(max_length=16)
    source_id = models.PositiveBigIntegerField()
    chunk_id = models.CharField(max_length=200, blank=True)
    title = models.CharField(max_length=255, blank=True)
    url = models.CharField(max_length=600, blank=True)

    class Meta:
        ordering = ["message", "number"]
        indexes = [models.Index(fields=["source_type", "source_id"])]
        constraints = [
            models.UniqueConstraint(fields=["message", "number"], name="unique_message_source_number")
        ]

    def __str__(self) -> str:
        return f"[{self.number}] {self.source_type}:{self.source_id}"


class MessageFeedback(models.Model):
    wagtail_reference_index_ignore = True  # see ChatSession

    class Rating(models.TextChoices):
        UP = "up", "👍"
        DOWN = "down", "👎"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="message_feedback"
    )
    rating = models.CharField(max_length=4, choices=Rating.choices)
    comment = models.TextField(blank=True, max_length=2000)
    metadata = models.JSONField(default=dict, blank=True)
    resolved = models.BooleanField(default=False, db_index=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="unique_feedback_per_user_message")
        ]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_rating_display()} on {self.message_id}"
