"""Request and response shapes of the chatbot API."""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chatbot.feedback.services import CLIENT_METADATA
from chatbot.models import ChatSession, Message, MessageFeedback
from chatbot.rag.config import ANSWER_LENGTHS, session_model_aliases
from knowledgebase.models import KnowledgeDocument
from knowledgebase.models.indexing import SourceType
from knowledgebase.selectors import sources_visible_to
from search.errors import KnowledgeError
from search.filters import SearchFilters
from search.values import Principal

from .shapes import answer_quoted, public_places, public_sources


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


def scope_validate(value: list[str], user: Any) -> list[str]:
    """Each key must be a source the user may see now, or one of their own documents."""
    keys = [parse_source_key(key) for key in value]
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


class SessionSettingsSerializer(serializers.Serializer):
    """A session's settings. A PATCH changes the keys it sends (null resets one to the site's default) and
    keeps the others; any other key is refused with 400 naming it."""

    scope = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        allow_null=True,
        max_length=200,
        help_text="Source keys ('page:12', 'document:3') retrieval is limited to; empty or null: everything "
        "the user may see. The same as the session's `scope` field.",
    )
    answer_length = serializers.ChoiceField(
        choices=list(ANSWER_LENGTHS),
        required=False,
        allow_null=True,
        help_text="Caps the answer: short (at most 128 answer tokens, or 1 quoted sentence without a "
        "generating model), medium (256 / 2), long (the site's configured length). Null: the site's.",
    )
    model = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=100,
        help_text="The LLM alias to answer with, one of those the site allows (CHATBOT_SESSION_MODELS, by "
        "default every configured provider). Null: the default provider.",
    )

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                known = ", ".join(self.fields)
                raise serializers.ValidationError(
                    {key: [f"Unknown setting {key!r}; the known ones are: {known}."] for key in unknown}
                )
        return super().to_internal_value(data)

    filters = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="What retrieval is narrowed to, on top of the user's permissions: `section` (a page's URL "
        "or 'page:12': it and the pages under it), `content_type` ('page' or 'file'), `collection` (a file "
        "collection's name or id), `tags`, `updated_after` / `updated_before` (YYYY-MM-DD, last "
        "published). Null or {}: no filters.",
    )

    def validate_scope(self, value: list[str] | None) -> list[str]:
        return scope_validate(value or [], self.context["request"].user)

    def validate_filters(self, value: Any) -> dict[str, Any] | None:
        try:
            filters = SearchFilters.from_dict(value)
        except KnowledgeError as e:
            raise serializers.ValidationError(e.message, code="invalid_filters") from e
        return filters.as_dict() or None

    def validate_model(self, value: str | None) -> str | None:
        if value is None:
            return None
        allowed = session_model_aliases()
        if value not in allowed:
            raise serializers.ValidationError(
                f"{value!r} is not a model this site lets a session choose; allowed: {', '.join(allowed)}."
            )
        return value


@extend_schema_field(SessionSettingsSerializer)
class SessionSettingsField(serializers.Field):
    """`settings` of a session: read as every known key with its value (null: the site's default), the
    scope from the session's `scope`; written through SessionSettingsSerializer."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", required=False, **kwargs)

    def to_representation(self, session: ChatSession) -> dict[str, Any]:
        stored = session.settings if isinstance(session.settings, dict) else {}
        return {
            "scope": list(session.scope or []),
            "answer_length": stored.get("answer_length"),
            "model": stored.get("model"),
            "filters": stored.get("filters"),
        }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        inner = SessionSettingsSerializer(data=data, partial=True, context=self.context)
        inner.is_valid(raise_exception=True)
        return {SETTINGS_CHANGES: dict(inner.validated_data)}


SETTINGS_CHANGES = "_settings_changes"


class ChatSessionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(
        source="uuid", read_only=True, help_text="The session's id: what its URLs take."
    )
    uuid = serializers.UUIDField(read_only=True, help_text="The same as `id` (kept for older clients).")
    settings = SessionSettingsField(help_text="Scope, answer length and model of the session's answers.")
    scope = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        max_length=200,
        help_text="Source keys ('page:12', 'document:3') the session's questions are limited to; "
        "empty means everything the user may see. The same as `settings.scope`.",
    )
    message_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = ChatSession
        fields = [
            "id",
            "uuid",
            "title",
            "is_active",
            "settings",
            "scope",
            "message_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def validate_scope(self, value: list[str]) -> list[str]:
        return scope_validate(value, self.context["request"].user)

    def _settings_apply(self, validated_data: dict[str, Any], session: ChatSession) -> None:
        changes = validated_data.pop(SETTINGS_CHANGES, None)
        if not changes:
            return
        stored = dict(session.settings) if isinstance(session.settings, dict) else {}
        for key, value in changes.items():
            if key == "scope":
                validated_data["scope"] = value or []
            elif value is None:
                stored.pop(key, None)
            else:
                stored[key] = value
        validated_data["settings"] = stored

    def create(self, validated_data: dict[str, Any]) -> ChatSession:
        self._settings_apply(validated_data, ChatSession())
        return super().create(validated_data)

    def update(self, instance: ChatSession, validated_data: dict[str, Any]) -> ChatSession:
        self._settings_apply(validated_data, instance)
        return super().update(instance, validated_data)


class OwnFeedbackSerializer(serializers.Serializer):
    rating = serializers.ChoiceField(choices=MessageFeedback.Rating.choices)
    comment = serializers.CharField(allow_blank=True)


class QualitySerializer(serializers.Serializer):
    score = serializers.FloatField(help_text="The mean of the three components.")
    groundedness = serializers.FloatField(help_text="Share of sentences supported by their cited passages.")
    retrieval = serializers.FloatField(help_text="Retrieval confidence in what the answer cites.")
    coverage = serializers.FloatField(
        help_text="IDF-weighted share of the question's terms the answer states."
    )


class SourceSerializer(serializers.Serializer):
    """A cited source (a chunk of a page or document), as `Message.sources` and the SSE `source` event
    carry it."""

    doc_id = serializers.CharField(help_text="The source's key: 'page:12' or 'document:3'.")
    title = serializers.CharField()
    excerpt = serializers.CharField(help_text="The start of the cited chunk's text.")
    number = serializers.IntegerField(help_text="The [n] marker the answer cites it with.")
    source_type = serializers.ChoiceField(choices=SourceType.choices)
    source_id = serializers.IntegerField()
    chunk_id = serializers.CharField()
    chunk_index = serializers.IntegerField(
        allow_null=True, help_text="The chunk's position in its source (null on older answers)."
    )
    section = serializers.CharField(help_text="The section heading path (also as `section_title`).")
    section_title = serializers.CharField()
    page_number = serializers.IntegerField(allow_null=True)
    relevance_score = serializers.FloatField(
        allow_null=True,
        help_text="How close the chunk is to the question: (1 + cosine) / 2 when the vector search scored "
        "it, else the search's fused score (null on older answers).",
    )
    url = serializers.CharField(help_text="Where the source is, with its #anchor when there is one.")
    anchor = serializers.CharField()


class PlaceSerializer(serializers.Serializer):
    """A page or file a decline points to (`Message.related`): where it is, not what it says."""

    doc_id = serializers.CharField(help_text="The source's key: 'page:12' or 'document:3'.")
    title = serializers.CharField()
    source_type = serializers.ChoiceField(choices=SourceType.choices)
    source_id = serializers.IntegerField()
    section = serializers.CharField(help_text="The section heading path (also as `section_title`).")
    section_title = serializers.CharField()
    page_number = serializers.IntegerField(allow_null=True)
    url = serializers.CharField(help_text="Where it is, with its #anchor when there is one.")
    anchor = serializers.CharField()


class MessageSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(
        source="uuid", read_only=True, help_text="The message's id: what the feedback URL takes."
    )
    uuid = serializers.UUIDField(read_only=True, help_text="The same as `id` (kept for older clients).")
    sources = serializers.SerializerMethodField(help_text="The sources the answer cites, in citation order.")
    feedback = serializers.SerializerMethodField(
        help_text="The asking user's own feedback on this answer (null if none), so a reloaded chat shows it."
    )
    quoted = serializers.SerializerMethodField(
        help_text="True when no generating model wrote the answer: its sentences are quoted from the sources."
    )
    quality = serializers.SerializerMethodField(
        help_text="The answer's quality score and its components, each 0..1 (chatbot/rag/quality.py); null "
        "for a question, a decline, an error or an answer saved before scoring."
    )
    related = serializers.SerializerMethodField(
        help_text="On a decline: up to three pages or files retrieval found closest, which the answer could "
        "not quote from (empty otherwise, and with sources left out)."
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "uuid",
            "role",
            "content",
            "sources",
            "status",
            "error_code",
            "error",
            "declined",
            "model",
            "tokens_used",
            "response_time",
            "first_token_time",
            "created_at",
            "feedback",
            "quoted",
            "quality",
            "related",
        ]
        read_only_fields = fields

    @extend_schema_field(SourceSerializer(many=True))
    def get_sources(self, message: Message) -> list[dict[str, Any]]:
        if not self.context.get("include_sources", True):
            return []
        return public_sources(message.sources if isinstance(message.sources, list) else [])

    @extend_schema_field(PlaceSerializer(many=True))
    def get_related(self, message: Message) -> list[dict[str, Any]]:
        if not self.context.get("include_sources", True):
            return []
        return public_places(message.related if isinstance(message.related, list) else [])

    def get_quoted(self, message: Message) -> bool:
        return message.role == "assistant" and answer_quoted(message.model)

    @extend_schema_field(QualitySerializer(allow_null=True))
    def get_quality(self, message: Message) -> dict[str, float] | None:
        if message.quality is None or not message.quality_components:
            return None
        return dict(message.quality_components)

    @extend_schema_field(OwnFeedbackSerializer(allow_null=True))
    def get_feedback(self, message: Message) -> dict[str, str] | None:
        # Set by the message list's prefetch, filtered to the requesting user; a new answer has none.
        own = getattr(message, "own_feedback", None)
        if not own:
            return None
        return {"rating": own[0].rating, "comment": own[0].comment}


class QuestionSerializer(serializers.Serializer):
    """A question: `message` (or `content`, its older name). Emptiness and length are checked by
    `question_check` (400 / 413 with stable codes), not here."""

    message = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="The question."
    )
    content = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="The question (the older name of `message`; `message` wins when both are sent).",
    )
    include_sources = serializers.BooleanField(
        default=True,
        help_text="false: no `source` events, and the answer's `sources` are left out of the response.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        question = attrs.get("message", attrs.get("content"))
        if question is None:
            raise serializers.ValidationError({"message": ["This field is required."]}, code="required")
        return {"question": question, "include_sources": attrs["include_sources"]}


# The client's `metadata` is kept under this key of MessageFeedback.metadata, apart from what the server
# records there (the editorial action taken on the feedback), which a client can neither see nor change.
FEEDBACK_METADATA_CHARS = 4000


@extend_schema_field({"type": "object", "additionalProperties": True})
class ClientMetadataField(serializers.JSONField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Expected a JSON object.")
        if len(json.dumps(value)) > FEEDBACK_METADATA_CHARS:
            raise serializers.ValidationError(f"At most {FEEDBACK_METADATA_CHARS:,} characters of JSON.")
        return value

    def to_representation(self, value: Any) -> Any:
        client = value.get(CLIENT_METADATA) if isinstance(value, dict) else None
        return client if isinstance(client, dict) else {}


class FeedbackSerializer(serializers.ModelSerializer):
    message = serializers.UUIDField(source="message.uuid", read_only=True)
    message_id = serializers.UUIDField(
        source="message.uuid", read_only=True, help_text="The same as `message`."
    )
    metadata = ClientMetadataField(
        help_text="Any JSON object the client wants kept with the rating (at most 4,000 characters); a "
        "second rating replaces it."
    )

    class Meta:
        model = MessageFeedback
        fields = ["message", "message_id", "rating", "comment", "metadata", "created_at", "updated_at"]
        read_only_fields = ["message", "message_id", "created_at", "updated_at"]


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
