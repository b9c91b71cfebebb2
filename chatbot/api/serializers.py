"""Request and response shapes of the chatbot API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chatbot.models import ChatSession, Message, MessageFeedback
from knowledgebase.models import KnowledgeDocument
from knowledgebase.models.indexing import SourceType
from knowledgebase.selectors import sources_visible_to
from search.values import Principal


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """Every error response: `{"error": {"code", "message", ...}}`."""

    error = ErrorDetailSerializer()


def parse_source_key(key: Any) -> tuple[str, int]:
    if not isinstance(key, str) or ":" not in key:
        raise serializers.ValidationError(f"{key!r} is not a source key like 'page:12' or 'document:3'.")
    source_type, _, raw_id = key.partition(":")
    if source_type not in SourceType.values or not raw_id.isdigit():
        raise serializers.ValidationError(f"{key!r} is not a source key like 'page:12' or 'document:3'.")
    return source_type, int(raw_id)


class ChatSessionSerializer(serializers.ModelSerializer):
    scope = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        max_length=200,
        help_text="Source keys ('page:12', 'document:3') the session's questions are limited to; "
        "empty means everything the user may see.",
    )
    message_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = ChatSession
        fields = ["uuid", "title", "is_active", "scope", "message_count", "created_at", "updated_at"]
        read_only_fields = ["uuid", "created_at", "updated_at"]

    def validate_scope(self, value: list[str]) -> list[str]:
        """Each key must be a source the user may see now, or one of their own documents."""
        keys = [parse_source_key(key) for key in value]
        user = self.context["request"].user
        visible = sources_visible_to(set(keys), Principal.from_user(user))
        own_ids = set(
            KnowledgeDocument.objects.filter(
                owner=user, pk__in=[i for t, i in keys if t == SourceType.DOCUMENT]
            ).values_list("pk", flat=True)
        )
        refused = [
            f"{t}:{i}"
            for t, i in keys
            if (t, i) not in visible and not (t == SourceType.DOCUMENT and i in own_ids)
        ]
        if refused:
            # The same message whether a source is missing or hidden: existence is not revealed.
            raise serializers.ValidationError(f"Unknown sources: {', '.join(refused)}.", code="invalid_scope")
        return list(dict.fromkeys(f"{t}:{i}" for t, i in keys))


class OwnFeedbackSerializer(serializers.Serializer):
    rating = serializers.ChoiceField(choices=MessageFeedback.Rating.choices)
    comment = serializers.CharField(allow_blank=True)


class MessageSerializer(serializers.ModelSerializer):
    feedback = serializers.SerializerMethodField(
        help_text="The asking user's own feedback on this answer (null if none), so a reloaded chat shows it."
    )

    class Meta:
        model = Message
        fields = [
            "uuid",
            "role",
            "content",
            "sources",
            "status",
            "error",
            "declined",
            "model",
            "tokens_used",
            "response_time",
            "first_token_time",
            "created_at",
            "feedback",
        ]
        read_only_fields = fields

    @extend_schema_field(OwnFeedbackSerializer(allow_null=True))
    def get_feedback(self, message: Message) -> dict[str, str] | None:
        # Set by the message list's prefetch, filtered to the requesting user; a new answer has none.
        own = getattr(message, "own_feedback", None)
        if not own:
            return None
        return {"rating": own[0].rating, "comment": own[0].comment}


class QuestionSerializer(serializers.Serializer):
    # Emptiness and length are checked by `question_check` (400 / 413 with stable codes), not here.
    content = serializers.CharField(allow_blank=True, trim_whitespace=False, help_text="The question.")


class FeedbackSerializer(serializers.ModelSerializer):
    message = serializers.UUIDField(source="message.uuid", read_only=True)

    class Meta:
        model = MessageFeedback
        fields = ["message", "rating", "comment", "created_at", "updated_at"]
        read_only_fields = ["message", "created_at", "updated_at"]


class DocumentSerializer(serializers.ModelSerializer):
    url = serializers.CharField(source="get_url", read_only=True)
    filename = serializers.CharField(read_only=True)

    class Meta:
        model = KnowledgeDocument
        fields = [
            "id",
            "title",
            "description",
            "filename",
            "kind",
            "file_size",
            "live",
            "url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DocumentUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="PDF, DOCX, TXT or Markdown.")
    title = serializers.CharField(max_length=255, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)


class DocumentStatusSerializer(serializers.Serializer):
    document_id = serializers.IntegerField()
    status = serializers.CharField(help_text="The latest indexing job's status, or 'not_queued'.")
    progress_done = serializers.IntegerField()
    progress_total = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    error_code = serializers.CharField(allow_blank=True)
    chunk_count = serializers.IntegerField(help_text="Chunks in the index.")
    indexed_at = serializers.DateTimeField(allow_null=True)
    live = serializers.BooleanField()


class FeedbackDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    answers = serializers.IntegerField()
    up = serializers.IntegerField()
    down = serializers.IntegerField()


class FeedbackAnalyticsSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    total_answers = serializers.IntegerField()
    up = serializers.IntegerField()
    down = serializers.IntegerField()
    satisfaction_rate = serializers.FloatField(allow_null=True, help_text="up / (up + down)")
    per_day = FeedbackDaySerializer(many=True)
    dashboard = serializers.JSONField(
        help_text="The admin dashboard's figures for the same period: questions per day, satisfaction trend, "
        "latency percentiles, tokens, cache hit, error and decline rates, content gaps, document processing."
    )
