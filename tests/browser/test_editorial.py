"""The editors' screens in Chromium: the analytics dashboard, the answer feedback panel on a page's edit
view and the feedback report, screenshotted into artifacts/screenshots/.

Admin pages do not stream, so pytest-django's live_server (in-process, static files served by Django) is
enough here; the chat UI's tests use the uvicorn site from conftest.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS
from tests.chatbot.test_feedback_data import answer, days_ago, page, rate, section
from tests.factories import site_home, user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def editorial_data() -> dict[str, Any]:
    from knowledgebase.models import IndexingJob

    site_home()
    docs = section("Docs", "docs")
    install, upgrade = page(docs, "Install"), page(docs, "Upgrade")
    askers = [user(f"asker{n}") for n in range(4)]
    questions = [
        "How do I install Wagtail?",
        "Install on Windows?",
        "How to upgrade to 8.0?",
        "Search setup?",
    ]
    # A decline saves the page the search came closest to (here: the install page).
    closest = [{"source_type": "page", "source_id": install.pk, "title": "Install"}]
    for day in range(14):
        for n in range(day % 4 + 1):
            asker = askers[n]
            cited = [install] if n % 2 == 0 else [upgrade]
            declined = (day + n) % 5 == 0
            reply = answer(
                asker,
                question=questions[(day + n) % 4] if not declined else "Where is the SSO setup?",
                cites=[] if declined else cited,
                at=days_ago(day + 0.2),
                retrieval_time=0.05 + 0.01 * n,
                first_token_time=0.2 + 0.05 * day % 0.4,
                response_time=0.8 + 0.1 * ((day * 7 + n) % 9),
                tokens_used=80 + day,
                cache_hit=n == 3,
                declined=declined,
                related=closest if declined else [],
                status="error" if (day, n) == (3, 1) else "complete",
            )
            if not declined and (day + n) % 2 == 0:
                down = (day + n) % 3 == 0
                rate(reply, asker, "down" if down else "up", "The pip command is missing" if down else "")
    for status in ["indexed"] * 6 + ["failed"]:
        IndexingJob.objects.create(
            source_type="page",
            source_id=install.pk,
            status=status,
            error="Timed out" if status == "failed" else "",
        )
    return {"install": install}


@pytest.fixture
def admin_page(live_server: Any, editorial_data: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    client = Client()
    client.force_login(user("root", is_superuser=True, is_staff=True))
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop here
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 1000})
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
            )
            tab = context.new_page()
            errors: list[str] = []
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            yield tab
            assert errors == [], errors
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def test_dashboard_page_panel_and_report_screenshots(admin_page: Any, editorial_data: dict[str, Any]) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    admin_page.goto("/admin/chatbot/analytics/")
    assert admin_page.locator("svg.w-chart").count() == 4
    assert admin_page.locator('[data-figure="questions"]').inner_text() != "0"
    # The charts take Wagtail's colours from its CSS custom properties.
    fill = admin_page.locator("rect.w-chart__bar.w-chart--primary").first.evaluate(
        "e => getComputedStyle(e).fill"
    )
    assert fill not in {"", "none", "rgb(0, 0, 0)"}
    # The content gap names the page to extend, linked to its editor.
    gap = admin_page.get_by_role("row", name="Where is the SSO setup?")
    closest = gap.get_by_role("link", name="Install")
    assert closest.get_attribute("href") == f"/admin/pages/{editorial_data['install'].pk}/edit/"
    admin_page.screenshot(path=str(SCREENSHOTS / "editorial-dashboard.png"), full_page=True)
    gap.scroll_into_view_if_needed()
    admin_page.screenshot(path=str(SCREENSHOTS / "editorial-dashboard-gaps.png"))

    admin_page.goto(f"/admin/pages/{editorial_data['install'].pk}/edit/")
    panel = admin_page.locator("[data-feedback-panel]")
    panel.scroll_into_view_if_needed()
    assert panel.locator('[data-figure="answers"]').inner_text() != "0"
    assert "The pip command is missing" in panel.inner_text()
    admin_page.screenshot(path=str(SCREENSHOTS / "editorial-page-panel.png"), full_page=False)

    admin_page.goto("/admin/reports/answer-feedback/")
    assert admin_page.locator("tr[data-source]").count() >= 1
    admin_page.screenshot(path=str(SCREENSHOTS / "editorial-report.png"), full_page=True)
