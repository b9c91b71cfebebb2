"""Chat sessions, messages (sent or streamed), feedback and its analytics.

Users only ever reach their own sessions and messages: everything is looked up through querysets filtered
by the requesting user, so another user's objects are 404, never 403.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chatbot.feedback.analytics import analytics_summary
from chatbot.feedback.services import feedback_save
from chatbot.models import ChatSession, Message, MessageFeedback
from datacollection.db import connections_release

from . import schema
from .analytics import feedback_summary
from .answers import answer_complete_function, answer_stream_function, question_check
from .base import CanViewChatLogs, ChatAPIMixin, JSONOnlyNegotiation, request_user
from .ratelimit import MESSAGES, rate_limit_hit
from .serializers import (
    ChatSessionSerializer,
    ErrorSerializer,
    FeedbackAnalyticsSerializer,
    FeedbackSerializer,
    MessageSerializer,
    QuestionSerializer,
)
from .sse import sse_response


def own_sessions(request: Request) -> QuerySet[ChatSession]:
    return ChatSession.objects.filter(user=request_user(request))


def own_session(request: Request, session_uuid: Any) -> ChatSession:
    return get_object_or_404(own_sessions(request), uuid=session_uuid)


@extend_schema_view(
    get=extend_schema(summary="The user's chat sessions, most recently active first"),
    post=extend_schema(summary="Start a chat session"),
)
class SessionListCreateView(ChatAPIMixin, generics.ListCreateAPIView):
    serializer_class = ChatSessionSerializer

    def get_queryset(self) -> QuerySet[ChatSession]:
        sessions = own_sessions(self.request).annotate(message_count=Count("messages"))
        return sessions.order_by("-updated_at", "-pk")

    def perform_create(self, serializer: Any) -> None:
        serializer.save(user=self.request.user)


@extend_schema_view(
    get=extend_schema(summary="A chat session"),
    put=extend_schema(summary="Change a session's title, state, scope or settings"),
    patch=extend_schema(
        summary="Change a session's title, state, scope or settings",
        description="`settings` keys: `scope` (source keys retrieval is limited to), `answer_length` "
        "(short, medium, long), `model` (an allowed LLM alias), `filters` (section, content_type, "
        "collection, tags, updated_after, updated_before; the user's permissions apply on top). Sent keys "
        "change, null resets one, the others stay; an unknown key or a bad value is 400 naming it.",
        responses={200: ChatSessionSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
    ),
    delete=extend_schema(summary="Delete a session with its messages"),
)
class SessionDetailView(ChatAPIMixin, generics.RetrieveUpdateDestroyAPIView):
    serializer_class = ChatSessionSerializer
    lookup_field = "uuid"
    lookup_url_kwarg = "session_uuid"

    def get_queryset(self) -> QuerySet[ChatSession]:
        return own_sessions(self.request).annotate(message_count=Count("messages"))


@extend_schema_view(
    get=extend_schema(summary="A session's messages, oldest first"),
    post=extend_schema(
        summary="Ask a question and wait for the whole answer",
        request=QuestionSerializer,
        examples=schema.STREAM_REQUEST_EXAMPLES,
        responses={
            201: MessageSerializer,
            400: ErrorSerializer,
            404: ErrorSerializer,
            413: ErrorSerializer,
            429: ErrorSerializer,
            503: ErrorSerializer,
        },
    ),
)
class MessageListCreateView(ChatAPIMixin, generics.ListCreateAPIView):
    serializer_class = MessageSerializer

    def get_queryset(self) -> QuerySet[Message]:
        session = own_session(self.request, self.kwargs["session_uuid"])
        own_feedback = MessageFeedback.objects.filter(user=request_user(self.request))
        return session.messages.order_by("created_at", "id").prefetch_related(
            Prefetch("feedback", queryset=own_feedback, to_attr="own_feedback")
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        session = own_session(request, kwargs["session_uuid"])
        question, include_sources = _question(request)
        message = answer_complete_function()(session=session, user=request.user, question=question)
        data = MessageSerializer(message, context={"include_sources": include_sources}).data
        return Response(data, status=status.HTTP_201_CREATED)


def _question(request: Request) -> tuple[str, bool]:
    """The question and whether to send sources. Validated, then counted against the shared message rate
    (a refused question costs nothing)."""
    serializer = QuestionSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    question: str = serializer.validated_data["question"]
    question_check(question)
    rate_limit_hit(request, group=MESSAGES)
    return question, bool(serializer.validated_data["include_sources"])


class MessageStreamView(ChatAPIMixin, APIView):
    renderer_classes = [JSONRenderer]  # errors before the stream; the stream itself bypasses DRF rendering
    content_negotiation_class = JSONOnlyNegotiation

    @extend_schema(
        summary="Ask a question and stream the answer as Server-Sent Events",
        description=schema.STREAM_DESCRIPTION,
        request=QuestionSerializer,
        examples=schema.STREAM_REQUEST_EXAMPLES,
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                response=schema.SSE_RESPONSE_SCHEMA, description="The answer as SSE events."
            ),
            400: ErrorSerializer,
            404: ErrorSerializer,
            413: ErrorSerializer,
            429: ErrorSerializer,
            503: ErrorSerializer,
        },
    )
    def post(self, request: Request, session_uuid: Any) -> Any:
        # Everything that can refuse the request happens here, before the first byte of the stream.
        session = own_session(request, session_uuid)
        question, include_sources = _question(request)
        answer = answer_stream_function()(session=session, user=request.user, question=question)
        # Django returns a request's connection when the response ends, for a stream minutes later: give
        # it back now (the answer takes one per short step), so held streams hold no connections.
        connections_release()
        return sse_response(answer, heartbeat=settings.CHATBOT_SSE_HEARTBEAT, include_sources=include_sources)


class FeedbackView(ChatAPIMixin, APIView):
    @extend_schema(
        summary="Rate an answer (a second rating by the same user replaces the first)",
        request=FeedbackSerializer,
        responses={
            201: FeedbackSerializer,
            200: FeedbackSerializer,
            400: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def post(self, request: Request, message_uuid: Any) -> Response:
        answers = Message.objects.filter(session__user=request_user(request), role=Message.Role.ASSISTANT)
        message = get_object_or_404(answers, uuid=message_uuid)
        serializer = FeedbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        feedback, created = feedback_save(
            message,
            user=request_user(request),
            rating=serializer.validated_data["rating"],
            comment=serializer.validated_data.get("comment", ""),
            metadata=serializer.validated_data.get("metadata", {}),
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(FeedbackSerializer(feedback).data, status=code)


class FeedbackAnalyticsView(ChatAPIMixin, APIView):
    permission_classes: Sequence[Any] = [IsAuthenticated, CanViewChatLogs]

    @extend_schema(
        summary="Answer and feedback counts (needs chatbot.view_chat_logs)",
        parameters=[OpenApiParameter("days", int, description="Days of per-day counts (default 30).")],
        responses={200: FeedbackAnalyticsSerializer, 403: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("days", "30")
        days = min(max(int(raw), 1), 366) if raw.isdigit() else 30
        dashboard = analytics_summary(since=timezone.now() - timedelta(days=days))
        return Response(
            FeedbackAnalyticsSerializer({**feedback_summary(days=days), "dashboard": dashboard}).data
        )
