"""The leak matrix (issue 17): every restricted kind of content carries a unique secret word; every
principal asks for it by its words, and each channel that can carry content is searched for the secret.

Kinds: public (the control), login-only, group, password, restricted ancestor, draft, a revision in
moderation, unpublished, deleted, moved under a private parent, owner-only upload, private collection, and
two changed behind the index's back (unpublished, restricted: only the database re-check stands between
them and an answer).
Principals: anonymous, a signed-in user, staff, a group member, the owner of the upload, a superuser.
Channels: the BM25 and kNN legs and the fused hits; for signed-in principals the API answer and its
sources, its cached repeat, the SSE stream, the saved messages, the MCP server's three tools (search,
the item's page or file read by its URL, an answer) and the prompt an LLM server received; then the
feedback report (CSV and Markdown), the analytics API, /metrics, /media/ and the logs.

The kNN leg returns a principal's top k of a small throwaway index whatever the query, so it is an
exhaustive probe of what the filter admits: a principal allowed to see an item must find its secret
there (the matrix bites), one not allowed must not. The mutation tests remove one protection at a time
and expect the matrix to report a leak.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.test import override_settings
from wagtail.models import Collection, CollectionViewRestriction, PageViewRestriction

from knowledgebase.models import IndexingJob, KnowledgeDocument, KnowledgeIndexPage, KnowledgePage
from knowledgebase.services import indexing_job_enqueue, source_sync
from search.retrieval import TEXT_LEG, VECTOR_LEG
from search.selectors import retrieval_search
from search.values import Principal
from tests.chatbot.api_helpers import (
    api_client,
    asgi_request,
    chat_log_reader,
    fresh_rate_limits,
    isolated_index,
)
from tests.chatbot.mcp_helpers import mcp_in_process, tool_text
from tests.factories import heading, knowledge_page, paragraph, site_home, user
from tests.llm_server import completion_stream

pytestmark = pytest.mark.django_db

API = "/api/chatbot"
PRINCIPALS = ("anonymous", "user", "staff", "member", "owner", "superuser")
SIGNED_IN = PRINCIPALS[1:]
EVERYONE = frozenset(PRINCIPALS)
NOBODY: frozenset[str] = frozenset()
ALL_SIGNED_IN = frozenset(SIGNED_IN)
MEMBERS = frozenset({"member", "superuser"})


@dataclass(frozen=True, kw_only=True)
class Item:
    kind: str
    secret: str  # a made-up word only this item's text holds
    words: str  # what the principals ask
    may_see: frozenset[str]  # principals allowed to see it
    index_says: frozenset[str] | None = None  # what the index still grants (changed behind its back)
    document: KnowledgeDocument | None = None
    url: str = ""  # where the item is (was) served: what the MCP server's get_source is asked for


@dataclass(kw_only=True)
class World:
    items: list[Item]
    accounts: dict[str, Any]
    tokens: dict[str, str]


def _text(kind: str) -> tuple[str, str, str]:
    secret = f"zq{kind.replace('_', '')}xv"
    words = f"{kind.replace('_', ' ')} okapi ledger"
    return (
        secret,
        words,
        f"The {words} entry is {secret}. Nothing else is written in the {kind} okapi ledger.",
    )


def _run_jobs() -> None:
    """What the worker would do with every job recorded so far (on_commit never fires in a test)."""
    for job in IndexingJob.objects.exclude(
        status__in=["indexed", "removed", "superseded", "failed"]
    ).order_by("pk"):
        source_sync(job)


def _page(parent: Any, kind: str, *, publish: bool = True) -> tuple[Any, str, str]:
    secret, words, text = _text(kind)
    # The secret is in the section heading too, so a channel that gives only where a passage is (a
    # decline's closest pages: title, section, URL with its anchor) is searched as well.
    page = knowledge_page(
        parent, title=f"{kind} ledger", body=[heading(f"{words} {secret}"), paragraph(text)], publish=publish
    )
    return page, secret, words


def _document(
    kind: str, *, owner: Any, collection: Any = None, private: bool = False
) -> tuple[Any, str, str]:
    secret, words, text = _text(kind)
    audience = KnowledgeDocument.Audience.PRIVATE if private else KnowledgeDocument.Audience.SHARED
    document = KnowledgeDocument(
        title=f"{kind} ledger", owner=owner, kind="txt", audience=audience, collection=collection
    )
    document.file.save(f"{kind}.txt", ContentFile(text.encode()), save=False)
    document.save()
    indexing_job_enqueue("document", document.pk, reason="test")
    return document, secret, words


def _in_moderation(home: Any, editor: Any) -> tuple[Any, str, str]:
    """A published page whose next revision, holding the secret, waits in a moderation workflow."""
    from wagtail.models import GroupApprovalTask, Workflow, WorkflowPage, WorkflowTask

    secret, words, text = _text("moderation")
    page = knowledge_page(
        home, title="moderation ledger", body=[heading(words), paragraph(f"The {words} is being reviewed.")]
    )
    workflow = page.get_workflow()
    if workflow is None:
        workflow = Workflow.objects.create(name="Review")
        task = GroupApprovalTask.objects.create(name="Approve")
        WorkflowTask.objects.create(workflow=workflow, task=task, sort_order=0)
        WorkflowPage.objects.create(workflow=workflow, page=home)
    page.body = [heading(words), paragraph(text)]
    page.save_revision(user=editor)
    workflow.start(page, editor)
    assert page.workflow_in_progress and KnowledgePage.objects.get(pk=page.pk).live
    return page, secret, words


def world_build() -> World:
    group = Group.objects.create(name="Finance")
    accounts: dict[str, Any] = {
        "user": user("plain"),
        "staff": user("staffer", is_staff=True),
        "member": user("member", groups=(group,)),
        "owner": user("owner"),
        "superuser": user("root", is_superuser=True, is_staff=True),
    }
    home = site_home()
    items: list[Item] = []

    def add(kind: str, made: tuple[Any, str, str], may_see: frozenset[str], **extra: Any) -> Any:
        obj, secret, words = made
        url = obj.get_url() or ""
        items.append(Item(kind=kind, secret=secret, words=words, may_see=may_see, url=url, **extra))
        return obj

    add("public", _page(home, "public"), EVERYONE)
    login = add("login", _page(home, "login"), ALL_SIGNED_IN)
    PageViewRestriction.objects.create(page=login, restriction_type=PageViewRestriction.LOGIN)
    grouped = add("group", _page(home, "group"), MEMBERS)
    restriction = PageViewRestriction.objects.create(
        page=grouped, restriction_type=PageViewRestriction.GROUPS
    )
    restriction.groups.add(group)
    password = add("password", _page(home, "password"), NOBODY)
    PageViewRestriction.objects.create(
        page=password, restriction_type=PageViewRestriction.PASSWORD, password="x"
    )

    private_section = KnowledgeIndexPage(title="Finance section", slug="finance")
    home.add_child(instance=private_section)
    private_section.save_revision().publish()
    section_rule = PageViewRestriction.objects.create(
        page=private_section, restriction_type=PageViewRestriction.GROUPS
    )
    section_rule.groups.add(group)
    add("ancestor", _page(private_section, "ancestor"), MEMBERS)
    add("draft", _page(home, "draft", publish=False), NOBODY)
    unpublished = add("unpublished", _page(home, "unpublished"), NOBODY)
    deleted = add("deleted", _page(home, "deleted"), NOBODY)
    moved = add("moved", _page(home, "moved"), MEMBERS)
    moderated = _in_moderation(home, accounts["staff"])
    add("moderation", moderated, NOBODY)
    stale_unpublished = add(
        "stale_unpublished", _page(home, "stale_unpublished"), NOBODY, index_says=EVERYONE
    )
    stale_restricted = add("stale_restricted", _page(home, "stale_restricted"), NOBODY, index_says=EVERYONE)

    made = _document("owner_upload", owner=accounts["owner"], private=True)
    add("owner_upload", made, frozenset({"owner"}), document=made[0])
    secret_collection = Collection.get_first_root_node().add_child(name="Finance files")
    collection_rule = CollectionViewRestriction.objects.create(
        collection=secret_collection, restriction_type=CollectionViewRestriction.GROUPS
    )
    collection_rule.groups.add(group)
    made = _document("collection", owner=accounts["staff"], collection=secret_collection)
    add("collection", made, MEMBERS, document=made[0])
    _run_jobs()

    unpublished.unpublish()
    KnowledgePage.objects.get(pk=deleted.pk).delete()
    moved.move(private_section, pos="last-child")
    moved.refresh_from_db()
    items = [replace(item, url=moved.get_url()) if item.kind == "moved" else item for item in items]
    _run_jobs()
    # Behind the index's back (no signal): only the re-check before citing stands in the way.
    KnowledgePage.objects.filter(pk=stale_unpublished.pk).update(live=False)
    PageViewRestriction.objects.bulk_create(
        [PageViewRestriction(page=stale_restricted, restriction_type=PageViewRestriction.GROUPS)]
    )
    tokens = {name: _token(account) for name, account in accounts.items()}
    return World(items=items, accounts=accounts, tokens=tokens)


def _token(account: Any) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.create(user=account).key


def _principal(world: World, name: str) -> Principal:
    return Principal.from_user(world.accounts.get(name))


# --- channels -------------------------------------------------------------------------------------


def leg_texts(world: World, name: str, item: Item) -> dict[str, str]:
    result = retrieval_search(item.words, principal=_principal(world, name), k=50)
    texts = {leg: " ".join(c.chunk.text + c.chunk.context for c in hits) for leg, hits in result.legs.items()}
    assert set(texts) == {TEXT_LEG, VECTOR_LEG}
    texts["fused"] = " ".join(h.chunk.text + h.chunk.context for h in result.hits)
    return texts


def answer_texts(world: World, name: str, item: Item) -> dict[str, str]:
    client = api_client(world.tokens[name])
    session = client.post(f"{API}/sessions/", {}, format="json").json()["uuid"]
    texts: dict[str, str] = {}
    for label in ("answer", "cached repeat"):
        response = client.post(f"{API}/sessions/{session}/messages/", {"message": item.words}, format="json")
        assert response.status_code == 201, response.content
        texts[label] = response.content.decode()
    streamed = async_to_sync(asgi_request)(
        f"{API}/sessions/{session}/messages/stream/",
        token=world.tokens[name],
        json_body={"message": item.words},
    )
    texts["sse"] = streamed.text
    texts["saved messages"] = client.get(f"{API}/sessions/{session}/messages/").content.decode()
    texts.update(async_to_sync(mcp_texts)(world.tokens[name], item))
    return texts


async def mcp_texts(token: str, item: Item) -> dict[str, str]:
    """What the MCP server's tools give this principal for the item (the SDK's client, in process)."""
    async with mcp_in_process(token) as session:
        search = await session.call_tool("search_knowledge", {"query": item.words, "k": 50})
        source = await session.call_tool("get_source", {"url": item.url})
        answer = await session.call_tool("ask", {"question": item.words})
    return {"mcp search": tool_text(search), "mcp source": tool_text(source), "mcp ask": tool_text(answer)}


@dataclass(kw_only=True)
class MatrixResult:
    leaks: list[str]  # a secret found by a principal not allowed it
    misses: list[str]  # one an allowed principal's kNN probe did not find (the matrix would not bite)
    checks: int  # (item, principal, channel) triples looked at


def matrix_leaks(world: World, *, channels: tuple[str, ...] = ("legs", "answers")) -> MatrixResult:
    result = MatrixResult(leaks=[], misses=[], checks=0)
    for item in world.items:
        for name in PRINCIPALS:
            if "legs" in channels:
                granted = item.may_see if item.index_says is None else item.index_says
                for leg, text in leg_texts(world, name, item).items():
                    result.checks += 1
                    if item.secret in text and name not in granted:
                        result.leaks.append(f"{item.kind} → {name} via {leg}")
                    if leg == VECTOR_LEG and name in granted and item.secret not in text:
                        result.misses.append(f"{item.kind} not found by {name} via {leg}")
            if "answers" in channels and name != "anonymous" and name not in item.may_see:
                for channel, text in answer_texts(world, name, item).items():
                    result.checks += 1
                    if item.secret in text:
                        result.leaks.append(f"{item.kind} → {name} via {channel}")
    return result


def matrix_record(name: str, **figures: Any) -> None:
    """With LEAK_MATRIX_JSON set (benchmarks/security.py), each test adds its figures to that file."""
    import json
    import os
    from pathlib import Path

    target = os.environ.get("LEAK_MATRIX_JSON")
    if not target:
        return
    path = Path(target)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = figures
    path.write_text(json.dumps(data, indent=2))


@pytest.fixture
def world() -> Iterator[World]:
    cache.clear()
    # Each principal asks about every item three times a minute: far past the per-user limit.
    with fresh_rate_limits(), isolated_index(), override_settings(CHATBOT_RATE_MESSAGES="10000/m"):
        yield world_build()


def test_no_restricted_content_reaches_anyone_not_allowed_it(world, client, caplog):
    with caplog.at_level(logging.DEBUG):
        result = matrix_leaks(world)
    matrix_record(
        "matrix",
        items=len(world.items),
        principals=len(PRINCIPALS),
        checks=result.checks,
        leaks=len(result.leaks),
        misses=len(result.misses),
    )
    assert result.misses == [], "an allowed principal did not find the item: the matrix would not bite"
    assert result.leaks == []
    # The MCP channels' control: the public item reaches a signed-in user through each tool.
    public = next(item for item in world.items if item.kind == "public")
    control = async_to_sync(mcp_texts)(world.tokens["user"], public)
    assert all(public.secret in text for text in control.values()), control
    secrets = [item.secret for item in world.items if item.kind != "public"]

    # Reports and analytics built from everything asked above.
    reports = []
    for fmt in ("csv", "md"):
        out = io.StringIO()
        call_command("feedback_report", "--since", "1d", "--format", fmt, stdout=out)
        reports.append(out.getvalue())
    _, reader = chat_log_reader("analyst")
    reports.append(api_client(reader).get(f"{API}/analytics/feedback/").content.decode())
    client.force_login(world.accounts["superuser"])
    metrics = client.get("/metrics")
    reports.append(metrics.content.decode() if metrics.status_code == 200 else "")
    reports.append(client.get("/admin/reports/answer-feedback/", {"export": "csv"}).getvalue().decode())
    for document in (item.document for item in world.items if item.document is not None):
        media = settings.MEDIA_URL
        for url in (f"{media}{document.file.name}", f"{media}knowledge/{document.filename}"):
            assert client.get(url).status_code == 404
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in secrets:
        assert all(secret not in text for text in reports), secret
        assert secret not in logged, secret


# --- mutations: each protection removed alone makes the matrix fail ------------------------------


def _without_filter(
    build: Callable[..., dict[str, Any]], where: Callable[[dict[str, Any]], dict[str, Any]]
) -> Any:
    def unfiltered(*args: Any, **kwargs: Any) -> dict[str, Any]:
        body = build(*args, **kwargs)
        where(body).pop("filter", None)
        return body

    return unfiltered


def test_mutation_bm25_leg_without_its_filter_leaks(world, monkeypatch):
    from search.backends.elasticsearch import backend

    monkeypatch.setattr(backend, "text_query", _without_filter(backend.text_query, lambda b: b["bool"]))
    leaks = matrix_leaks(world, channels=("legs",)).leaks
    matrix_record("mutation bm25 filter", leaks=len(leaks))
    assert any(f"via {TEXT_LEG}" in leak for leak in leaks)


def test_mutation_knn_leg_without_its_filter_leaks(world, monkeypatch):
    from search.backends.elasticsearch import backend

    monkeypatch.setattr(backend, "knn_clause", _without_filter(backend.knn_clause, lambda b: b))
    leaks = matrix_leaks(world, channels=("legs",)).leaks
    matrix_record("mutation knn filter", leaks=len(leaks))
    assert any(f"via {VECTOR_LEG}" in leak for leak in leaks)


def test_mutation_without_the_database_recheck_leaks(world, monkeypatch):
    from chatbot.rag import run

    # The answer pipeline's re-check (before the prompt and before citing) reads the database through this.
    monkeypatch.setattr(run, "sources_visible_to", lambda keys, principal: set(keys))
    world.items = [item for item in world.items if item.index_says is not None]
    with override_settings(CHATBOT_ANSWER_CACHE={"ENABLED": False, "CACHE": "default", "TIMEOUT": 1}):
        leaks = matrix_leaks(world, channels=("answers",)).leaks
    matrix_record("mutation database re-check", leaks=len(leaks))
    assert any("stale_unpublished" in leak for leak in leaks)
    assert any("stale_restricted" in leak for leak in leaks)
    # The MCP tools go through the same re-check (chatbot.rag.pipeline.hits_checked, source_read).
    assert any("stale_restricted" in leak and "via mcp search" in leak for leak in leaks)
    assert any("stale_unpublished" in leak and "via mcp source" in leak for leak in leaks)


# --- the prompt the LLM server received -------------------------------------------------------------


class RecordingLLMServer:
    """An OpenAI-compatible chat completions server on loopback that streams fixed tokens and keeps every
    request body: what a real model would have been shown."""

    def __init__(self, tokens: tuple[str, ...] = ("The ledger says so [1].",)) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[dict[str, Any]] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # http.server's naming
                requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                body = completion_stream(tokens)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def llm_recorder() -> Iterator[RecordingLLMServer]:
    server = RecordingLLMServer()
    backends = {
        "default": {
            "BACKEND": "chatbot.llm.openai",
            "BASE_URL": server.url,
            "MODEL": "m",
            "TIMEOUT": 10.0,
            "MAX_RETRIES": 0,
        }
    }
    no_cache = {"ENABLED": False, "CACHE": "default", "TIMEOUT": 1}
    try:
        with override_settings(CHATBOT_LLM_BACKENDS=backends, CHATBOT_ANSWER_CACHE=no_cache):
            yield server
    finally:
        server.close()


def _prompt_of(world: World, name: str, item: Item, server: RecordingLLMServer) -> str:
    import json

    seen = len(server.requests)
    client = api_client(world.tokens[name])
    session = client.post(f"{API}/sessions/", {}, format="json").json()["uuid"]
    response = client.post(f"{API}/sessions/{session}/messages/", {"message": item.words}, format="json")
    assert response.status_code == 201, response.content
    return json.dumps(server.requests[seen:])


def test_the_prompt_never_carries_restricted_content(world, llm_recorder):
    public = next(item for item in world.items if item.kind == "public")
    # The control: the model is asked, and is shown what the asker may see.
    assert public.secret in _prompt_of(world, "user", public, llm_recorder)
    asked = [(item, name) for item in world.items for name in SIGNED_IN if name not in item.may_see]
    leaks = [
        f"{item.kind} → {name} via the prompt"
        for item, name in asked
        if item.secret in _prompt_of(world, name, item, llm_recorder)
    ]
    matrix_record("prompt", checks=len(asked), leaks=len(leaks))
    assert leaks == []
