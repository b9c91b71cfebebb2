"""The chat's site pages without a browser: login redirect, the widget tag, production static files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test import Client

from tests.factories import heading, knowledge_page, paragraph, site_home, user


@pytest.mark.django_db
def test_chat_page_sends_anonymous_visitors_to_the_login() -> None:
    response = Client().get("/chat/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/chat/"


@pytest.mark.django_db
def test_chat_page_renders_for_a_signed_in_user() -> None:
    client = Client()
    client.force_login(user("reader"))
    response = client.get("/chat/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-mode="page"' in html and 'data-api-root="/api/chatbot/"' in html
    token = re.search(r'data-csrf-token="([^"]+)"', html)
    assert token and len(token.group(1)) >= 32
    assert "csrftoken" in response.cookies
    assert 'type="module"' in html and "/static/chatbot/main.js" in html


@pytest.mark.django_db
def test_knowledge_pages_carry_the_widget_scoped_to_the_page() -> None:
    from knowledgebase.models import KnowledgeIndexPage

    home = site_home()
    section = KnowledgeIndexPage(title="Docs", slug="docs")
    home.add_child(instance=section)
    section.save_revision().publish()
    page = knowledge_page(section, title="Widget page", body=[heading("Intro"), paragraph("Hello.")])

    anonymous = Client().get(page.url).content.decode()
    assert 'data-mode="widget"' in anonymous and f'data-page-id="{page.pk}"' in anonymous
    assert f'href="/admin/login/?next={page.url}"' in anonymous  # the sign-in link, no question box
    assert 'data-role="input"' not in anonymous

    client = Client()
    client.force_login(user("reader"))
    signed_in = client.get(page.url).content.decode()
    assert 'data-role="input"' in signed_in and 'value="page" checked' in signed_in


def test_collectstatic_with_the_production_storage(static_root: Path) -> None:
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    for name in ["chatbot/main.js", "chatbot/markdown.js", "chatbot/chat.css"]:
        hashed = manifest["paths"][name]
        assert hashed != name and (static_root / hashed).exists()
        # Modules import their siblings by plain relative names, which collectstatic keeps too.
        assert (static_root / name).exists() and (static_root / f"{name}.gz").exists()
