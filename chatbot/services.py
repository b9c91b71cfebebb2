"""Writes of the chatbot: answering a question in a session (streamed or whole) and what it stores.

The pipeline (`chatbot.rag.pipeline`) streams tokens into an `AnswerRun` (`chatbot.rag.run`), which finishes
itself and builds the final events; this module validates, and is the one place that saves the question,
the answer with the sources it cites, and the answer cache entry.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction

from chatbot.events import StreamEvent
from chatbot.llm import get_llm
from chatbot.logging import question_for_log
from chatbot.metrics import answer_observe
from chatbot.models import ChatSession, Message, MessageSource
from chatbot.rag import cache
from chatbot.rag.config import RagConfig
from chatbot.rag.pipeline import answer_events, filters_of, scope_of
from chatbot.rag.run import INTERNAL, AnswerRun
from chatbot.selectors import session_history
from datacollection.db import db_step
from search.errors import KnowledgeError
from search.values import Principal

logger = logging.getLogger(__name__)

_TITLE_CHARS = 60


class ChatInputError(KnowledgeError):
    """The question cannot be asked as sent (code `empty` or `too_long`)."""

    default_code = "invalid_question"


def question_validate(question: Any, *, max_chars: int | None = None) -> str:
    """The question stripped; raises ChatInputError (`empty`, `too_long`). No model or search is called."""
    limit = max_chars if max_chars is not None else RagConfig.from_settings().max_question_chars
    text = question.strip() if isinstance(question, str) else ""
    if not text:
        raise ChatInputError("Please type a question.", code="empty")
    if len(text) > limit:
        raise ChatInputError(
            f"Questions are limited to {limit:,} characters; this one has {len(text):,}.",
            code="too_long",
            extra={"max_chars": limit, "length": len(text)},
        )
    return text


def session_title_suggest(question: str) -> str:
    """A short session title from the first question: its first line, cut at a word boundary."""
    line = next((ln.strip() for ln in question.splitlines() if ln.strip()), "")
    line = re.sub(r"\s+", " ", line)
    if len(line) <= _TITLE_CHARS:
        return line or "New chat"
    return line[:_TITLE_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _question_save(
    session: ChatSession, user: Any, question: str, config: RagConfig
) -> tuple[Message, list[dict[str, str]], Principal]:
    history = session_history(session, turns=config.history_turns)
    message = Message.objects.create(session=session, role=Message.Role.USER, content=question)
    if not session.title:
        session.title = session_title_suggest(question)
        session.save(update_fields=["title", "updated_at"])
    return message, history, Principal.from_user(user)


def _answer_save(session: ChatSession, run: AnswerRun) -> Message:
    """The assistant's message and its cited sources (one transaction)."""
    with transaction.atomic():
        message = Message.objects.create(
            uuid=uuid.UUID(run.message_id),
            session=session,
            role=Message.Role.ASSISTANT,
            content=run.content,
            sources=run.citations,
            tokens_used=run.tokens_used,
            response_time=run.elapsed(),
            retrieval_time=run.retrieval_time,
            first_token_time=run.first_token_time,
            model=run.model[:200],
            status=run.status,
            error_code=run.error_code[:40],
            error=run.error[:500],
            cache_hit=run.cache_hit,
            declined=run.declined,
            related=run.related,
            quality=run.quality.score if run.quality else None,
            quality_components=run.quality.as_dict() if run.quality else {},
        )
        MessageSource.objects.bulk_create(
            MessageSource(
                message=message,
                number=int(s["number"]),
                source_type=str(s["source_type"]),
                source_id=int(s["source_id"]),
                chunk_id=str(s.get("chunk_id", ""))[:200],
                title=str(s.get("title", ""))[:255],
                url=str(s.get("url", ""))[:600],
            )
            for s in run.citations
        )
        ChatSession.objects.filter(pk=session.pk).update(updated_at=message.created_at)
    answer_observe(message)
    logger.info(
        "answer %s status=%s declined=%s sources=%d question=%s",
        message.uuid,
        message.status,
        message.declined,
        len(run.citations),
        question_for_log(run.question),
    )
    return message


def _finish(session: ChatSession, run: AnswerRun) -> Message:
    run.finalise()
    message = _answer_save(session, run)
    if run.cacheable:
        cache.answer_set(run.cache_key, run.cache_payload())
    return message


def _partial_save(session: ChatSession, run: AnswerRun) -> Message:
    run.finalise()
    return _answer_save(session, run)


async def answer_stream(
    *, session: ChatSession, user: Any, question: str
) -> AsyncGenerator[StreamEvent, None]:
    """Answer `question` in `session` as `user`: `token` events, then one `source` per cited source, then
    `complete`; or one `error` event (the answer is saved with status "error"). ChatInputError is raised
    before anything is yielded or stored. If the consumer stops early the partial answer is saved with
    status "partial" and the GeneratorExit / CancelledError propagates.

    Each database step returns its connection when it ends (`db_step`): none is held while retrieval
    runs or the model streams, so the pool bounds connections, not streams."""
    config = RagConfig.for_session(session.settings)  # the session's answer length and model, if set
    text = question_validate(question, max_chars=config.max_question_chars)
    llm = get_llm(config.llm_alias)
    _, history, principal = await db_step(_question_save, session, user, text, config)
    run = AnswerRun(
        question=text,
        history=history,
        principal=principal,
        scope=scope_of(session.scope),
        filters=filters_of(session.settings),
        message_id=str(uuid.uuid4()),
        config=config,
        llm=llm,
    )
    try:
        async with aclosing(answer_events(run)) as events:
            async for event in events:
                yield event
    except (GeneratorExit, asyncio.CancelledError):
        run.status = "partial"
        # Shielded: a second cancellation must not lose what was already streamed.
        await asyncio.shield(db_step(_partial_save, session, run))
        raise
    except Exception as e:  # a bug mid-stream still ends the stream with an error event
        logger.exception("answering failed")
        run.fail("internal_error", INTERNAL, f"{type(e).__name__}: {e}")
    message = await db_step(_finish, session, run)
    if run.status == "error":
        yield run.error_event()
        return
    for event in run.source_events():
        yield event
    yield run.complete_event(
        message_id=str(message.uuid),
        tokens_used=message.tokens_used,
        response_time=message.response_time or 0.0,
    )


def answer_complete(*, session: ChatSession, user: Any, question: str) -> Message:
    """The same pipeline, consumed whole: the saved assistant Message (status "error" on a failure).

    Raises ChatInputError like answer_stream. Not for use inside a running event loop (use answer_stream).
    """

    async def consume() -> str | None:
        message_id = None
        async for event in answer_stream(session=session, user=user, question=question):
            if event.type in ("complete", "error"):
                message_id = event.data.get("message_id")
        return message_id

    message_id = async_to_sync(consume)()
    if message_id is None:  # pragma: no cover - the stream always ends with complete or error
        raise RuntimeError("The answer stream ended without a result.")
    return Message.objects.get(uuid=message_id)
