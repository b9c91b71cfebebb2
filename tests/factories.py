"""Factories for the tests: one place that knows how to build pages, users and documents."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group


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
