"""Factories for the tests: one place that builds pages, users, documents, chunks and principals."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from search.backends.base import IndexItem
from search.values import Chunk, Principal, Visibility, text_hash


def site_home() -> Any:
    """The site's home page, created when a transactional test's flush removed the migrated one."""
    from wagtail.models import Locale, Page, Site

    from knowledgebase.models import HomePage

    Locale.objects.get_or_create(language_code="en")
    root = Page.get_first_root_node() or Page.add_root(instance=Page(title="Root", slug="root"))
    home = HomePage.objects.first()
    if home is None:
        home = HomePage(title="Knowledge base", slug="home")
        root.add_child(instance=home)
        home.save_revision().publish()
    Site.objects.update_or_create(
        is_default_site=True, defaults={"hostname": "localhost", "port": 80, "root_page": home}
    )
    return home


def knowledge_section(title: str, slug: str, *, parent: Any = None) -> Any:
    """A published knowledge section (KnowledgeIndexPage) under `parent`, by default the site's home."""
    from knowledgebase.models import KnowledgeIndexPage

    section = KnowledgeIndexPage(title=title, slug=slug)
    (parent or site_home()).add_child(instance=section)
    section.save_revision().publish()
    return section


def knowledge_page(parent: Any, *, title: str, body: list[tuple[str, Any]], publish: bool = True) -> Any:
    from knowledgebase.models import KnowledgePage

    # A page that is not published yet is a draft: not live, as the admin creates it.
    page = KnowledgePage(title=title, body=body, live=publish)
    parent.add_child(instance=page)
    revision = page.save_revision()
    if publish:
        revision.publish()
        page.refresh_from_db()
    return page


def heading(text: str, level: str = "h2") -> tuple[str, dict[str, str]]:
    return ("heading", {"text": text, "level": level})


def paragraph(text: str) -> tuple[str, str]:
    return ("paragraph", f"<p>{text}</p>")


def user(username: str, *, groups: tuple[Group, ...] = (), **extra: Any) -> Any:
    account = get_user_model().objects.create_user(username=username, password="pw-" + username, **extra)
    for group in groups:
        account.groups.add(group)
    return account


# --- search values: hand-made, deterministic chunks, index items and principals ----------------------


def make_chunk(
    source_id: int = 1, position: int = 0, *, source_type: str = "page", **fields: object
) -> Chunk:
    """A chunk with every field set to something non-default, so round trips check them all."""
    text = str(fields.pop("text", f"Passage {position} of {source_type} {source_id} about knowledge."))
    values: dict[str, object] = {
        "source_type": source_type,
        "source_id": source_id,
        "chunk_id": f"{source_type}:{source_id}:{position}",
        "text": text,
        "title": f"Source {source_id}",
        "heading_path": ("Guide", f"Part {position}"),
        "anchor": f"part-{position}",
        "page_number": position + 1,
        "url": f"/{source_type}/{source_id}/#part-{position}",
        "language": "en",
        "content_hash": text_hash(text),
        "revision": 100 + source_id,
        "visibility": Visibility.PUBLIC,
        "group_ids": (),
        "owner_id": None,
        "context": f"Wider context around passage {position}.",
        "position": position,
        "source_path": f"docs/{source_type}-{source_id}.md",
    }
    values.update(fields)
    return Chunk(**values)  # type: ignore[arg-type]


def make_item(chunk: Chunk, vector: Sequence[float] | None) -> IndexItem:
    return IndexItem(chunk=chunk, vector=None if vector is None else list(vector))


def throwaway_index_name() -> str:
    """Lower case (Elasticsearch index and alias names must be), unique per test."""
    return f"test-contract-{uuid.uuid4().hex[:12]}"


ANONYMOUS = Principal.anonymous()
SIGNED_IN = Principal(user_id=9)
GROUP_MEMBER = Principal(user_id=9, group_ids=frozenset({5}))
OTHER_GROUP = Principal(user_id=9, group_ids=frozenset({6}))
OWNER = Principal(user_id=7)
OTHER_USER = Principal(user_id=8)
SUPERUSER = Principal(user_id=1, is_staff=True, is_superuser=True)
SUPERUSER_OWNER = Principal(user_id=7, is_staff=True, is_superuser=True)
