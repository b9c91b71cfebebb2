"""The MCP server (chatbot/mcp) driven by the SDK's own client: over HTTP against uvicorn serving the
site's ASGI app with lifespan events, and in process for the rate limit and a start without lifespan.

A restricted page holds a canary word: its group's member finds, reads and is answered with it (the
control), another signed-in user gets it through none of search_knowledge, get_source or ask, and nobody
gets anything without a valid, unexpired token."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

import httpx2
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from mcp.shared.exceptions import MCPError
from rest_framework.authtoken.models import Token
from wagtail.models import PageViewRestriction

from knowledgebase.models import IndexingJob
from knowledgebase.services import source_sync
from tests.chatbot.api_helpers import fresh_rate_limits, isolated_index, token_user
from tests.chatbot.mcp_helpers import mcp_in_process, mcp_session, mcp_site, resource_text, tool_text
from tests.factories import heading, knowledge_page, paragraph, site_home
from tests.services import database_url

pytestmark = pytest.mark.django_db(transaction=True)

CANARY = "zqmcpcanaryxv"
QUESTION = "What is the okapi budget code?"


def _run_jobs() -> None:
    for job in IndexingJob.objects.exclude(
        status__in=["indexed", "removed", "superseded", "failed"]
    ).order_by("pk"):
        source_sync(job)


@pytest.fixture
def knowledge() -> Any:
    with isolated_index() as index:
        group = Group.objects.create(name="Finance")
        home = site_home()
        public = knowledge_page(
            home,
            title="Okapi care",
            body=[heading("Feeding okapis"), paragraph("Okapis eat leaves, buds and fruit every morning.")],
        )
        restricted = knowledge_page(
            home,
            title="Finance ledger",
            body=[heading("Okapi budget"), paragraph(f"The okapi budget code is {CANARY} for this year.")],
        )
        rule = PageViewRestriction.objects.create(
            page=restricted, restriction_type=PageViewRestriction.GROUPS
        )
        rule.groups.add(group)
        _run_jobs()
        _, reader = token_user("reader", groups=(group,))
        _, other = token_user("other")
        yield {"index": index, "reader": reader, "other": other, "public": public, "restricted": restricted}


def _site_env(index: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "datacollection.settings.production",
        "DATABASE_URL": database_url(connection.settings_dict),
        "ELASTICSEARCH_URL": settings.ELASTICSEARCH_URL,
        "KNOWLEDGE_INDEX_NAME": index,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "PRIVATE_ROOT": str(settings.PRIVATE_ROOT),
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "CHAT_ANSWER_CACHE": "0",
        "CHAT_STREAM_DELAY": "0",
        "LOG_LEVEL": "WARNING",
    }


async def _as_member(url: str, token: str, restricted_url: str) -> dict[str, Any]:
    async with mcp_session(url, token) as session:
        tools = {tool.name for tool in (await session.list_tools()).tools}
        found = await session.call_tool("search_knowledge", {"query": "okapi budget code", "k": 5})
        source = await session.call_tool("get_source", {"url": restricted_url + "#okapi-budget"})
        answer = await session.call_tool("ask", {"question": QUESTION})
        session_id = answer.structured_content["session"]
        follow_up = await session.call_tool(
            "ask", {"question": "And what do okapis eat?", "session": session_id}
        )
        resources = {str(r.uri) for r in (await session.list_resources()).resources}
        recent = resource_text(await session.read_resource("chat://sessions"))
        transcript = resource_text(await session.read_resource(f"chat://sessions/{session_id}"))
    return {
        "tools": tools,
        "found": found,
        "source": source,
        "answer": answer,
        "follow_up": follow_up,
        "resources": resources,
        "recent": json.loads(recent),
        "transcript": transcript,
        "session": session_id,
    }


async def _as_other(url: str, token: str, restricted_url: str, member_session: str) -> dict[str, Any]:
    async with mcp_session(url, token) as session:
        texts = {
            "search": tool_text(await session.call_tool("search_knowledge", {"query": "okapi budget code"})),
            "public search": tool_text(
                await session.call_tool("search_knowledge", {"query": "okapis eat leaves, buds and fruit"})
            ),
            "source": await session.call_tool("get_source", {"url": restricted_url}),
            "answer": tool_text(await session.call_tool("ask", {"question": QUESTION})),
            "sessions": resource_text(await session.read_resource("chat://sessions")),
        }
        with pytest.raises(MCPError, match="Unknown session"):
            await session.read_resource(f"chat://sessions/{member_session}")
        borrowed = await session.call_tool("ask", {"question": QUESTION, "session": member_session})
    return {**texts, "borrowed": borrowed}


def test_mcp_over_http_serves_each_token_what_its_user_may_see(knowledge):
    restricted_url = knowledge["restricted"].get_url()
    with mcp_site(_site_env(knowledge["index"])) as site:
        url = f"{site.url}/mcp/"
        # No token, a wrong one, an expired one: 401 before the MCP server sees the request.
        expired_user, expired = token_user("expired")
        Token.objects.filter(key=expired).update(created=timezone.now() - timedelta(hours=24 * 31))
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {expired}"}):
            response = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["error"]["code"] == "not_authenticated"

        member = async_to_sync(_as_member)(url, knowledge["reader"], restricted_url)
        other = async_to_sync(_as_other)(url, knowledge["other"], restricted_url, member["session"])

    assert member["tools"] == {"search_knowledge", "ask", "get_source"}
    passages = member["found"].structured_content["passages"]
    assert passages[0]["title"] == "Finance ledger"
    assert passages[0]["url"] == f"{restricted_url}#okapi-budget"
    assert passages[0]["doc_id"] == f"page:{knowledge['restricted'].pk}"
    assert CANARY in passages[0]["excerpt"]
    source = member["source"].structured_content
    assert not member["source"].is_error and source["title"] == "Finance ledger"
    assert CANARY in " ".join(p["text"] for p in source["passages"])
    answer = member["answer"].structured_content
    assert CANARY in answer["answer"] and not answer["declined"]
    assert answer["citations"][0]["url"] == f"{restricted_url}#okapi-budget"
    assert member["follow_up"].structured_content["session"] == member["session"]
    assert {"chat://sessions"} <= member["resources"]
    assert [s["id"] for s in member["recent"]] == [member["session"]]
    assert QUESTION in member["transcript"] and "And what do okapis eat?" in member["transcript"]
    assert f"({restricted_url}#okapi-budget)" in member["transcript"]

    assert "Okapi care" in other["public search"]  # the control: this user's channel works
    for channel in ("search", "answer", "sessions"):
        assert CANARY not in other[channel], channel
    # Not even as a decline's closest page: the restricted page's title never reaches this user.
    assert "Finance ledger" not in other["answer"] and "Finance ledger" not in other["search"]
    assert other["source"].is_error and CANARY not in tool_text(other["source"])
    assert other["borrowed"].is_error and "Unknown session" in tool_text(other["borrowed"])


def test_mcp_tools_are_rate_limited_like_the_api_and_start_without_lifespan(knowledge):
    async def searches() -> list[Any]:
        # No startup(): the first request starts the session manager (uvicorn --lifespan off).
        async with mcp_in_process(knowledge["other"], start=False) as session:
            return [await session.call_tool("search_knowledge", {"query": "okapis"}) for _ in range(3)]

    with fresh_rate_limits(), override_settings(CHATBOT_RATE_SEARCHES="2/m"):
        results = async_to_sync(searches)()
    assert [r.is_error for r in results] == [False, False, True]
    assert "Rate limit of 2/m reached" in tool_text(results[2])


def test_ask_filters_narrow_the_answer_and_hold_for_the_session(knowledge):
    public_key = f"page:{knowledge['public'].pk}"

    async def conversation() -> dict[str, Any]:
        async with mcp_in_process(knowledge["reader"]) as session:

            async def ask(question: str, **arguments: Any) -> Any:
                return await session.call_tool("ask", {"question": question, **arguments})

            narrowed = await ask(QUESTION, filters={"sources": [public_key]})
            chat = narrowed.structured_content["session"]
            return {
                "narrowed": narrowed,
                "follow_up": await ask("And the okapi budget code?", session=chat),
                "files_only": await ask(QUESTION, session=chat, filters={"content_type": "file"}),
                "lifted": await ask(QUESTION, session=chat, filters={}),
                "bad_date": await ask(QUESTION, filters={"updated_after": "yesterday"}),
                "misspelt": await ask(QUESTION, filters={"colour": "red"}),
            }

    with fresh_rate_limits(), override_settings(CHATBOT_RATE_MESSAGES="100/m"):
        results = async_to_sync(conversation)()
    for name in ("narrowed", "follow_up"):  # only the public page may be drawn on, the follow-up too
        answer = results[name].structured_content
        assert CANARY not in answer["answer"], name
        assert {c["doc_id"] for c in answer["citations"]} <= {public_key}, name
        assert {p["doc_id"] for p in answer["related"]} <= {public_key}, name
    files_only = results["files_only"].structured_content
    assert files_only["declined"] and not files_only["citations"]  # there are no files
    assert files_only["related"] == [], "no file is close to anything: there are none"
    lifted = results["lifted"].structured_content
    assert CANARY in lifted["answer"]
    assert lifted["session"] == results["narrowed"].structured_content["session"]
    assert results["bad_date"].is_error and "updated_after" in tool_text(results["bad_date"])
    assert results["misspelt"].is_error and "colour" in tool_text(results["misspelt"])
