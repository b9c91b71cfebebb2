"""The seam between the API and the chat service: which answer functions the endpoints call.

`CHATBOT_API_ANSWER_STREAM` / `CHATBOT_API_ANSWER_COMPLETE` name them (dotted paths, default
`chatbot.services.answer_stream` / `answer_complete`); they are resolved per request so tests and the SSE
benchmark can select another implementation of the same contract with `override_settings` or the
environment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from chatbot.events import StreamEvent
from chatbot.models import ChatSession, Message
from chatbot.services import question_validate


class AnswerStream(Protocol):
    def __call__(self, *, session: ChatSession, user: Any, question: str) -> AsyncIterator[StreamEvent]: ...


AnswerComplete = Callable[..., Message]


def answer_stream_function() -> AnswerStream:
    return import_string(settings.CHATBOT_API_ANSWER_STREAM)


def answer_complete_function() -> AnswerComplete:
    return import_string(settings.CHATBOT_API_ANSWER_COMPLETE)


def question_check(question: str) -> str:
    """The service's own check, run by the views before anything is saved, retrieved or streamed:
    ChatInputError `empty` (400) or `too_long` (413, the limit in the message). No model is called."""

    return question_validate(question)
