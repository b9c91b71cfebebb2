"""The MCP server's tools and resources, each a thin call into the chat's services and selectors as the
user of the request's API token (bound by `_user_bind` from `scope["user"]`, set by chatbot.mcp.app)."""

from __future__ import annotations

import contextvars
import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Literal

from asgiref.sync import sync_to_async
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

from chatbot.api.answers import answer_stream_function
from chatbot.api.ratelimit import MESSAGES, SEARCHES, rate_limit_hit
from chatbot.api.shapes import answer_quoted, public_places, public_sources
from chatbot.models import ChatSession
from chatbot.transcripts import session_markdown, session_of, sessions_recent
from search.errors import KnowledgeError
from search.filters import SearchFilters
from search.values import Principal

from .knowledge import Passage, SourceText, passages_search, source_read

INSTRUCTIONS = (
    "The organisation's knowledge base: pages and files, limited to what the signed-in user may see. "
    "search_knowledge finds passages (with links to their sections); get_source reads the passages of a "
    "link it returned; ask answers a question with numbered citations, in a chat session the user can "
    "reopen (chat://sessions lists them)."
)

_user: contextvars.ContextVar[Any] = contextvars.ContextVar("mcp_user", default=None)


async def _user_bind(ctx: Any, call_next: Any) -> Any:
    """Every message is handled as the user its HTTP request authenticated (none: refused by the app)."""
    request = getattr(ctx, "request", None)
    token = _user.set(request.scope.get("user") if request is not None else None)
    try:
        return await call_next(ctx)
    finally:
        _user.reset(token)


def _caller() -> Any:
    user = _user.get()
    if user is None:
        raise ToolError("Not signed in.")
    return user


def _rate_limit(user: Any, group: str) -> None:
    """The REST API's per-user limits (django-ratelimit in the cache, failing closed), same counters."""
    rate_limit_hit(SimpleNamespace(user=user, method="POST"), group=group)


async def _limited(user: Any, group: str) -> None:
    try:
        await sync_to_async(_rate_limit)(user, group)
    except KnowledgeError as e:
        raise ToolError(e.message) from e


@dataclass(frozen=True, kw_only=True)
class SearchResult:
    query: str
    passages: list[Passage] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Citation:
    number: int
    doc_id: str
    title: str
    section: str
    url: str
    excerpt: str


@dataclass(frozen=True, kw_only=True)
class Place:
    doc_id: str
    title: str
    section: str
    url: str


@dataclass(frozen=True, kw_only=True)
class Answer:
    session: str
    message_id: str
    answer: str
    declined: bool
    quoted: bool
    citations: list[Citation] = field(default_factory=list)
    # On a decline: the pages and files the search came closest to (not sources of the answer).
    related: list[Place] = field(default_factory=list)


def _citations(sources: Any) -> list[Citation]:
    return [
        Citation(
            number=int(s.get("number", 0)),
            doc_id=s["doc_id"],
            title=str(s.get("title", "")),
            section=str(s.get("section_title", "")),
            url=str(s.get("url", "")),
            excerpt=str(s.get("excerpt", "")),
        )
        for s in public_sources(sources)
    ]


def _places(related: Any) -> list[Place]:
    return [
        Place(
            doc_id=p["doc_id"],
            title=str(p.get("title", "")),
            section=str(p.get("section_title", "")),
            url=str(p.get("url", "")),
        )
        for p in public_places(related)
    ]


def _chat_session(user: Any, session: str | None, filters: Filters | None = None) -> ChatSession:
    """The session to answer in: a new one, or the user's `session`. `filters` become the session's
    scope (`sources`) and `settings.filters`, as a PATCH of the REST API sets them, so its follow-ups
    keep them; without `filters` a session keeps what it has."""
    chat = ChatSession(user=user) if not session else session_of(user, session)
    if chat is None:  # the same whether it is missing or someone else's
        raise ToolError(f"Unknown session {session!r}.")
    if filters is not None:
        given: dict[str, Any] = dict(filters)
        sources = [str(key) for key in given.pop("sources", None) or []]
        try:
            narrowed = SearchFilters.from_dict(given)
        except KnowledgeError as e:
            raise ToolError(e.message) from e
        chat.scope = list(dict.fromkeys(sources))
        chat.settings = {**(chat.settings or {}), "filters": narrowed.as_dict() or None}
    if chat.pk is None or filters is not None:
        chat.save()
    return chat


@with_config(ConfigDict(extra="forbid"))  # a misspelt filter is refused, not ignored
class Filters(TypedDict, total=False):
    """What a search may be narrowed to; every filter given must match. The user's permissions always
    apply on top."""

    sources: list[str]  # doc_ids: "page:12", "document:3"
    section: str  # a page's URL or "page:12": that page and the pages under it
    content_type: Literal["page", "file"]
    collection: str  # a file collection's name or id (and its sub-collections)
    tags: list[str]
    updated_after: str  # last published on or after this date, YYYY-MM-DD
    updated_before: str  # ... on or before this date


async def search_knowledge(query: str, k: int = 8, filters: Filters | None = None) -> SearchResult:
    """Search the knowledge base for passages about `query` (at most `k`, up to 50). Each passage has its
    source's title, section, a link to the section (`url`, with its #anchor) and an excerpt; pass the link
    to get_source to read the passage in full. `filters` narrow the search: `sources` (doc_ids),
    `section` (a page URL: that page and those under it), `content_type` (page or file), `collection`,
    `tags`, `updated_after` / `updated_before` (YYYY-MM-DD)."""
    user = _caller()
    await _limited(user, SEARCHES)
    given: dict[str, Any] = dict(filters or {})
    scope = [str(key) for key in given.pop("sources", None) or []] or None
    try:
        passages = await sync_to_async(passages_search)(
            query,
            principal=await sync_to_async(Principal.from_user)(user),
            k=k,
            scope=scope,
            filters=SearchFilters.from_dict(given),
        )
    except KnowledgeError as e:
        raise ToolError(e.message) from e
    return SearchResult(query=query, passages=passages)


async def get_source(url: str) -> SourceText:
    """The text of a knowledge source the user may see, by the link search_knowledge or ask gave (a page
    or file URL; with a #anchor, only that section)."""
    user = _caller()
    await _limited(user, SEARCHES)
    principal = await sync_to_async(Principal.from_user)(user)
    found = await sync_to_async(source_read)(url, principal=principal)
    if found is None:  # the same whether it does not exist or is hidden from this user
        raise ToolError(f"No knowledge source you can see at {url!r}.")
    return found


async def ask(question: str, session: str | None = None, filters: Filters | None = None) -> Answer:
    """Ask the knowledge base a question; the answer cites its sources by number. Pass the `session` of an
    earlier answer to ask a follow-up in the same conversation (it is listed at chat://sessions).
    `filters` (as for search_knowledge) limit what the answer may draw on, in this session from now on:
    its follow-ups keep them until filters are given again ({} lifts them)."""
    user = _caller()
    await _limited(user, MESSAGES)
    chat = await sync_to_async(_chat_session)(user, session, filters)
    result: dict[str, Any] = {}
    try:
        async for event in answer_stream_function()(session=chat, user=user, question=question):
            if event.type in ("complete", "error"):
                result = {"type": event.type, **event.data}
    except KnowledgeError as e:  # the question itself was refused (empty, too long)
        raise ToolError(e.message) from e
    if result.get("type") != "complete":
        raise ToolError(str(result.get("message") or "The answer could not be produced."))
    return Answer(
        session=str(chat.uuid),
        message_id=str(result.get("message_id", "")),
        answer=str(result.get("content", "")),
        declined=bool(result.get("declined")),
        quoted=answer_quoted(result.get("model")),
        citations=_citations(result.get("sources")),
        related=_places(result.get("related")),
    )


async def recent_sessions() -> str:
    """The user's 20 most recent chat sessions (id, title, dates), newest first."""
    sessions = await sync_to_async(sessions_recent)(_caller())
    for session in sessions:
        session["uri"] = f"chat://sessions/{session['id']}"
    return json.dumps(sessions)


async def session_transcript(session_id: str) -> str:
    """One of the user's chat sessions as Markdown: questions, answers and their numbered sources."""
    user = _caller()

    def read() -> str | None:
        session = session_of(user, session_id)
        return session_markdown(session) if session is not None else None

    text = await sync_to_async(read)()
    if text is None:
        raise ResourceNotFoundError(f"Unknown session {session_id!r}.")
    return text


def mcp_server_build() -> MCPServer:
    server: MCPServer = MCPServer(
        "knowledge", title="Knowledge base", instructions=INSTRUCTIONS, middleware=[_user_bind]
    )
    for tool in (search_knowledge, ask, get_source):
        server.tool()(tool)
    server.resource("chat://sessions", name="recent_sessions", mime_type="application/json")(recent_sessions)
    server.resource("chat://sessions/{session_id}", name="session", mime_type="text/markdown")(
        session_transcript
    )
    return server
