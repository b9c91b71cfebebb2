"""Search filters (issue 21, item 4): section (a subtree), content type, collection, tag and date, resolved
from the live content (knowledgebase/filters.py) and run as the engines' scope, on Elasticsearch and on the
database backend; the permission filter always applies on top. Then each entry point that takes them:
`manage.py search_query`, a session's `settings.filters` in the API (and the answer it scopes), the MCP
server's `search_knowledge`."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.test import override_settings
from wagtail.models import Collection, PageViewRestriction

from chatbot.rag.pipeline import hits_checked
from knowledgebase.filters import filter_sources
from knowledgebase.models import IndexingJob, KnowledgeDocument, KnowledgeIndexPage, KnowledgePage
from knowledgebase.services import indexing_job_enqueue, source_sync
from search.backends import get_search_backend
from search.errors import InvalidQuery
from search.filters import SearchFilters
from search.values import Principal
from tests.chatbot.api_helpers import api_client, fresh_rate_limits, token_user
from tests.chatbot.mcp_helpers import mcp_in_process
from tests.factories import heading, knowledge_page, paragraph, site_home, throwaway_index_name, user

pytestmark = pytest.mark.django_db

WORDS = "okapi husbandry"
API = "/api/chatbot"


def _section(home: Any, title: str, slug: str) -> Any:
    section = KnowledgeIndexPage(title=title, slug=slug)
    home.add_child(instance=section)
    section.save_revision().publish()
    return section


def _page(parent: Any, title: str) -> Any:
    return knowledge_page(
        parent, title=title, body=[heading(title), paragraph(f"The {WORDS} notes of {title.lower()}.")]
    )


def _file(title: str, collection: Any) -> Any:
    document = KnowledgeDocument(title=title, kind="txt", collection=collection)
    document.file.save(f"{title}.txt", ContentFile(f"The {WORDS} notes of {title}.".encode()), save=False)
    document.save()
    indexing_job_enqueue("document", document.pk, reason="test")
    return document


@contextmanager
def _backend(engine: str) -> Iterator[None]:
    from django.conf import settings

    name = throwaway_index_name()
    if engine == "elasticsearch":
        backends = {"default": {**settings.KNOWLEDGE_SEARCH_BACKENDS["default"], "INDEX": name}}
    else:
        backends = {"default": {"BACKEND": "search.backends.database", "INDEX": name, "OPTIONS": {}}}
    with override_settings(KNOWLEDGE_SEARCH_BACKENDS=backends):
        try:
            yield
        finally:
            get_search_backend().drop()


@pytest.fixture(params=["elasticsearch", "database"])
def world(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    cache.clear()
    with _backend(request.param), fresh_rate_limits():
        home = site_home()
        guides, policies = _section(home, "Guides", "guides"), _section(home, "Policies", "policies")
        editors = _section(guides, "Editors", "editors")
        group = Group.objects.create(name="Finance")
        pages = {
            "guide": _page(guides, "Guide"),
            "editor": _page(editors, "Editor"),
            "secret": _page(guides, "Secret"),
            "policy": _page(policies, "Policy"),
        }
        rule = PageViewRestriction.objects.create(
            page=pages["secret"], restriction_type=PageViewRestriction.GROUPS
        )
        rule.groups.add(group)
        root = Collection.get_first_root_node()
        manuals = root.add_child(name="Manuals")
        files = {
            "manual": _file("Manual", manuals),
            "annex": _file("Annex", manuals.add_child(name="Annexes")),
        }
        files["memo"] = _file("Memo", root)
        for name, tags in (("guide", ["onboarding"]), ("policy", ["Onboarding", "hr"])):
            pages[name].tags.add(*tags)
            pages[name].save()
        files["manual"].tags.add("onboarding")
        files["manual"].save()
        KnowledgePage.objects.filter(pk=pages["policy"].pk).update(
            last_published_at=datetime(2020, 3, 1, tzinfo=UTC)
        )
        KnowledgeDocument.objects.filter(pk=files["memo"].pk).update(
            last_published_at=datetime(2020, 3, 1, tzinfo=UTC)
        )
        for job in IndexingJob.objects.exclude(status__in=["indexed", "removed", "failed"]).order_by("pk"):
            source_sync(job)
        keys = {name: f"page:{page.pk}" for name, page in pages.items()}
        keys |= {name: f"document:{document.pk}" for name, document in files.items()}
        yield {
            "keys": keys,
            "sections": {"guides": guides, "editors": editors, "policies": policies},
            "member": user("member", groups=(group,)),
            "plain": user("plain"),
        }


def _found(world: dict[str, Any], principal_user: Any, **filters: Any) -> set[str]:
    hits = hits_checked(
        WORDS, principal=Principal.from_user(principal_user), k=50, filters=SearchFilters.from_dict(filters)
    )
    names = {key: name for name, key in world["keys"].items()}
    return {names[h.chunk.source_key] for h in hits}


def test_filters_narrow_retrieval_on_both_engines_and_never_widen_it(world):
    member, plain = world["member"], world["plain"]
    guides = world["sections"]["guides"]
    every = {"guide", "editor", "secret", "policy", "manual", "annex", "memo"}
    assert _found(world, member) == every  # the control: no filter, everything the member may see
    # Section: the page's subtree, by URL or page key; the permission filter still applies on top.
    assert _found(world, member, section=guides.get_url()) == {"guide", "editor", "secret"}
    assert _found(world, plain, section=f"page:{guides.pk}") == {"guide", "editor"}
    assert _found(world, member, section=world["sections"]["editors"].get_url()) == {"editor"}
    assert _found(world, member, section="/no/such/section/") == set()
    # Content type, collection (with its sub-collections), dates, and several at once.
    assert _found(world, plain, content_type="page") == {"guide", "editor", "policy"}
    assert _found(world, plain, content_type="file") == {"manual", "annex", "memo"}
    assert _found(world, plain, collection="Manuals") == {"manual", "annex"}
    assert _found(world, plain, collection="annexes") == {"annex"}
    assert _found(world, plain, updated_before="2020-12-31") == {"policy", "memo"}
    assert _found(world, member, updated_after=date.today().isoformat()) == every - {"policy", "memo"}
    assert _found(world, plain, content_type="file", updated_after="2021-01-01") == {"manual", "annex"}
    # Tags, on pages and files, every one given, without regard to case.
    assert _found(world, plain, tags=["onboarding"]) == {"guide", "policy", "manual"}
    assert _found(world, plain, tags=["ONBOARDING", "hr"]) == {"policy"}
    assert _found(world, plain, tags=["onboarding"], content_type="file") == {"manual"}
    # A filter inside a scope narrows the scope further.
    scoped = hits_checked(
        WORDS,
        principal=Principal.from_user(member),
        k=50,
        scope={world["keys"]["guide"], world["keys"]["policy"]},
        filters=SearchFilters(section=guides.get_url()),
    )
    assert {h.chunk.source_key for h in scoped} == {world["keys"]["guide"]}


def test_the_resolver_reads_live_content_and_bad_filters_are_named(world):
    KnowledgePage.objects.get(pk=world["keys"]["guide"].split(":")[1]).unpublish()
    assert world["keys"]["guide"] not in filter_sources(SearchFilters(content_type="page"))
    for bad, named in (
        ({"colour": "red"}, "Unknown filter 'colour'"),
        ({"content_type": "video"}, "expected one of page, file"),
        ({"updated_after": "last week"}, "expected a date"),
        ({"tags": [1]}, "expected a list of tag names"),
    ):
        with pytest.raises(InvalidQuery, match=named):
            SearchFilters.from_dict(bad)


def test_search_query_command_takes_filters(world):
    out = io.StringIO()
    guides = world["sections"]["guides"]
    call_command("search_query", WORDS, "--section", guides.get_url(), "--type", "page", stdout=out)
    text = out.getvalue()
    assert "Guide" in text and "Editor" in text and "Policy" not in text and "Secret" not in text
    assert "filters {'section'" in text


def test_api_session_filters_scope_its_answers(world):
    account, token = token_user("asker")
    client = api_client(token)
    session = client.post(f"{API}/sessions/", {}, format="json").json()["id"]
    refused = client.patch(
        f"{API}/sessions/{session}/", {"settings": {"filters": {"colour": "red"}}}, format="json"
    )
    assert refused.status_code == 400 and "colour" in refused.content.decode()
    policies = world["sections"]["policies"].get_url()
    changed = client.patch(
        f"{API}/sessions/{session}/", {"settings": {"filters": {"section": policies}}}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["settings"]["filters"] == {"section": policies}
    answer = client.post(f"{API}/sessions/{session}/messages/", {"message": f"{WORDS} notes"}, format="json")
    assert answer.status_code == 201, answer.content
    assert {s["doc_id"] for s in answer.json()["sources"]} == {world["keys"]["policy"]}
    cleared = client.patch(f"{API}/sessions/{session}/", {"settings": {"filters": None}}, format="json")
    assert cleared.json()["settings"]["filters"] is None


def test_mcp_search_knowledge_takes_filters(world):
    _, token = token_user("assistant")

    async def search() -> tuple[Any, Any]:
        async with mcp_in_process(token) as session:
            files = await session.call_tool(
                "search_knowledge", {"query": WORDS, "k": 20, "filters": {"collection": "Manuals"}}
            )
            bad = await session.call_tool("search_knowledge", {"query": WORDS, "filters": {"colour": "x"}})
        return files, bad

    files, bad = async_to_sync(search)()
    assert {p["doc_id"] for p in files.structured_content["passages"]} == {
        world["keys"]["manual"],
        world["keys"]["annex"],
    }
    assert bad.is_error and "colour" in bad.content[0].text


def test_editors_tag_pages_in_the_admin(client):
    page = _page(_section(site_home(), "Guides", "guides"), "Guide")
    client.force_login(user("editor", is_superuser=True, is_staff=True))
    form = client.get(f"/admin/pages/{page.pk}/edit/")
    assert form.status_code == 200 and 'name="tags"' in form.content.decode()


def test_a_files_tags_are_edited_in_the_admin_and_filter_once_published(client):
    """A file's tags are in its edit form; a draft's tags live in its revision (a ClusterableModel), so
    the tag filter matches the file only when the draft is published."""
    document = _file("Manual", Collection.get_first_root_node())
    client.force_login(user("editor", is_superuser=True, is_staff=True))
    edit = f"/admin/snippets/knowledgebase/knowledgedocument/edit/{document.pk}/"
    form = client.get(edit)
    assert form.status_code == 200 and 'name="tags"' in form.content.decode()
    key, tagged = f"document:{document.pk}", SearchFilters(tags=("onboarding",))

    document.tags.add("onboarding")
    document.save_revision()  # a draft: the live row is untouched
    assert key not in filter_sources(tagged)
    assert not KnowledgeDocument.objects.get(pk=document.pk).tags.exists()
    document.latest_revision.publish()
    assert key in filter_sources(tagged)
    assert list(KnowledgeDocument.objects.get(pk=document.pk).tags.names()) == ["onboarding"]

    # The editor's form: a draft saved with other tags leaves the live ones; publishing applies them.
    fields = {
        "title": "Manual",
        "description": "",
        "collection": document.collection_id,
        "audience": "shared",
        "owner": "",
        "tags": "hr, Policies",
    }
    saved = client.post(edit, fields)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert sorted(KnowledgeDocument.objects.get(pk=document.pk).tags.names()) == ["onboarding"]
    published = client.post(edit, {**fields, "action-publish": "action-publish"})
    assert published.status_code == 302, published.content.decode()[:2000]
    assert sorted(KnowledgeDocument.objects.get(pk=document.pk).tags.names()) == ["Policies", "hr"]
    assert key in filter_sources(SearchFilters(tags=("policies",))) and key not in filter_sources(tagged)
