"""The site's pages: the chat's login redirect, the widget tag and production static files without a browser;
then, in Chromium, the front door: the home page's ask box, the header, and phones (no page wider than the
screen, the launcher on screen, the widget a full-screen sheet)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
from django.test import Client

from tests.browser.conftest import SCREENSHOTS, PageWatch, SiteServer, screenshot, wait_for_indexed
from tests.factories import heading, knowledge_page, knowledge_section, paragraph, user


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
    section = knowledge_section("Docs", "docs")
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


# --- The front door, in Chromium ---------------------------------------------------------------------------

QUESTION = "How often are backups of the knowledge database taken?"
LONG_LINE = "backup --target=s3://knowledge-backups/" + "nightly/" * 40 + " --compress --verify"
LONG_URL = "https://example.org/operations/backups/" + "runbook" * 30 + ".html"  # no place to break


def operations_page() -> Any:
    """A section with one indexed page: a wide code block, a wide table and a long URL among the text."""
    section = knowledge_section("Operations", "operations")
    table = {
        "data": [
            ["Setting", "Default", "What it does"],
            [
                "KNOWLEDGE_BACKUP_RETENTION_DAYS_FOR_THE_SECOND_DATA_CENTRE",
                "30",
                "How long a backup is kept.",
            ],
            ["KNOWLEDGE_BACKUP_INTERVAL", "6h", "Time between two backups of the knowledge database."],
        ],
        "first_row_is_table_header": True,
        "first_col_is_header": False,
    }
    page = knowledge_page(
        section,
        title="Backups and restores",
        body=[
            heading("Backup schedule"),
            paragraph(
                "Backups of the knowledge database are taken every six hours and kept for thirty days. "
                f"The runbook is at {LONG_URL}."
            ),
            ("code", {"language": "sh", "code": LONG_LINE}),
            ("table", table),
        ],
    )
    wait_for_indexed("page", page.pk)
    return page


@pytest.fixture
def phone(playwright_browser: Any, site_server: SiteServer) -> Iterator[tuple[Any, PageWatch]]:
    """A 390 x 844 phone (mobile viewport: a page wider than the screen makes the browser zoom out)."""
    context = playwright_browser.new_context(
        base_url=site_server.url,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        locale="en-GB",
    )
    context.set_default_timeout(15000)
    page = context.new_page()
    watch = PageWatch()
    page.on("pageerror", lambda e: watch.console_errors.append(f"pageerror: {e}"))
    page.on(
        "console",
        lambda m: (
            watch.console_errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            watch.failed_responses.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    yield page, watch
    context.close()


def _no_horizontal_overflow(page: Any) -> None:
    """Against the screen's width: a mobile browser widens its layout viewport (innerWidth) to a page that
    is too wide, zooming out, so innerWidth alone would hide the overflow."""
    screen = page.viewport_size["width"]
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= screen and widths[1] == screen, (
        f"the page is {widths} px wide on a {screen} px screen"
    )


def _inside_viewport(page: Any, locator: Any) -> dict[str, float]:
    box = locator.bounding_box()
    view = page.viewport_size
    assert box, locator
    assert box["x"] >= 0 and box["y"] >= 0, box
    assert box["x"] + box["width"] <= view["width"] and box["y"] + box["height"] <= view["height"], (
        box,
        view,
    )
    return box


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_home_page_ask_box_opens_the_answer_in_the_chat(watched_page, login) -> None:
    page, watch = watched_page
    operations_page()

    # Anonymous: the home page offers the ask box and the sections; asking goes through the login, which
    # keeps the question in its `next`.
    page.goto("/")
    header = page.get_by_role("navigation", name="Main")
    assert header.get_by_role("link", name="Chat").get_attribute("href") == "/chat/"
    assert header.get_by_role("link", name="Sign in").is_visible()
    assert page.locator('[aria-current="page"]').get_attribute("href") == "/"
    assert page.get_by_role("link", name="Operations").is_visible()
    ask = page.get_by_role("search", name="Ask the knowledge base")
    question_box = ask.get_by_role("textbox", name="Ask the knowledge base")
    screenshot(page, "site-01-home-anonymous")
    # The skip link is the first thing a keyboard reaches and moves focus to the content.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert skip.evaluate("el => el === document.activeElement") and skip.is_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    question_box.fill(QUESTION)
    question_box.press("Enter")
    page.wait_for_url("**/admin/login/**")
    next_url = unquote(urlsplit(page.url).query.removeprefix("next="))
    assert next_url == f"/chat/?q={quote(QUESTION, safe='').replace('%20', '+')}", page.url

    # Signed in (as after that login), the question is asked once in a new chat and leaves the address.
    login(user("front-door"))
    page.goto("/")
    # A reader without admin access is offered "Sign out", not a link to an admin they cannot open.
    header = page.get_by_role("navigation", name="Main")
    assert header.get_by_role("button", name="Sign out").is_visible()
    assert header.get_by_role("link", name="Admin").count() == 0
    question_box.fill(QUESTION)
    ask.get_by_role("button", name="Ask").click()
    page.wait_for_url("**/chat/**")
    chat = page.locator(".chat-app")
    assert chat.locator(".chat-message--user").first.text_content() == QUESTION
    answer = chat.locator(".chat-message--assistant").first
    page.wait_for_function(
        "() => document.querySelector('.chat-app .chat-message--assistant[data-status]')", timeout=30000
    )
    assert answer.get_attribute("data-status") == "complete"
    assert "six hours" in (answer.text_content() or "")
    assert "q=" not in page.url and "session=" in page.url, page.url
    assert chat.get_by_role("textbox", name="Your question").input_value() == ""
    # The header marks the chat as the current page.
    assert page.get_by_role("link", name="Chat").get_attribute("aria-current") == "page"
    # The new chat is in the session list, named after the question.
    assert chat.locator('.chat-session[aria-current="true"]').count() == 1
    screenshot(page, "site-02-chat-from-the-ask-box")

    # A reload shows the same chat and does not ask again.
    page.reload()
    chat.locator(".chat-message--assistant[data-status]").first.wait_for()
    page.wait_for_timeout(500)
    assert chat.locator(".chat-message--user").count() == 1
    watch.assert_clean()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_phone_pages_fit_the_screen_and_the_widget_is_a_full_screen_sheet(phone, site_server) -> None:
    page, watch = phone
    knowledge = operations_page()

    for path in ["/", knowledge.url]:
        page.goto(path)
        _no_horizontal_overflow(page)
    # Wide code and tables scroll inside themselves; the long URL wraps.
    code = page.locator("pre.code-block")
    assert code.evaluate("el => el.scrollWidth > el.clientWidth && getComputedStyle(el).overflowX === 'auto'")
    assert code.bounding_box()["x"] + code.bounding_box()["width"] <= 390
    table = page.locator(".table-scroll")
    assert table.evaluate("el => el.scrollWidth > el.clientWidth")
    assert table.bounding_box()["width"] <= 390
    launcher = page.get_by_role("button", name="Ask about this page")
    _inside_viewport(page, launcher)
    screenshot(page, "site-03-phone-knowledge-page")

    # Anonymous: the sheet offers the sign-in; the close button is on screen.
    launcher.click()
    panel = page.get_by_role("dialog", name="Ask the knowledge base")
    assert panel.bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}
    close = panel.get_by_role("button", name="Close chat")
    assert _inside_viewport(page, close)["width"] >= 40  # a thumb-sized target
    _inside_viewport(page, panel.get_by_role("link", name="Sign in"))
    close.click()
    assert not panel.is_visible()

    # Signed in: the full-screen sheet asks and answers, with the composer on screen.
    client = Client()
    client.force_login(user("phone-user"))
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": site_server.url}]
    )
    page.reload()
    launcher.click()
    assert panel.bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}
    question_box = panel.get_by_role("textbox", name="Your question")
    _inside_viewport(page, question_box)
    _inside_viewport(page, panel.get_by_role("button", name="Send"))
    question_box.fill(QUESTION)
    question_box.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('.chat-widget .chat-message--assistant[data-status]')", timeout=30000
    )
    assert "six hours" in (panel.locator(".chat-message--assistant").first.text_content() or "")
    _no_horizontal_overflow(page)
    _inside_viewport(page, panel.get_by_role("button", name="Close chat"))
    # The screen itself: a full-page shot would show the page behind the sheet.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "site-04-phone-widget-sheet.png"))
    panel.get_by_role("button", name="Close chat").click()
    _inside_viewport(page, launcher)

    # The chat page fits too, with an answer holding wide code.
    page.goto("/chat/")
    page.locator(".chat-app [data-role=log]").evaluate(
        """log => { const answer = document.createElement('div');
        answer.className = 'chat-message chat-message--assistant';
        answer.innerHTML = '<div class="chat-markdown"><pre><code>' + 'x'.repeat(300) + '</code></pre><p>'
          + 'https://example.org/' + 'y'.repeat(200) + '</p></div>';
        log.appendChild(answer); }"""
    )
    _no_horizontal_overflow(page)
    watch.assert_clean()
