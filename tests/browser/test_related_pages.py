"""A decline that still points somewhere: when the answerer finds no sentence to quote but retrieval was on
topic, the chat lists the closest pages under the decline, labelled as such, and a reload keeps them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.conftest import SiteEnvironment, SiteServer, screenshot, site_start
from tests.browser.test_answer_labels import BACKUP_QUESTION, _answers_done, two_pages, widget_first_answer
from tests.factories import user
from tests.services import WorkerProcess, served_through_test

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site_server(site_environment: SiteEnvironment, celery_worker: WorkerProcess) -> Iterator[SiteServer]:
    """The site with a support bar no sentence reaches: every answer is a decline, retrieval unchanged
    (replaces conftest's site_server for this module)."""
    env = {"CHAT_EXTRACTIVE_SEMANTIC_MIN_SCORE": "0.99", "CHAT_EXTRACTIVE_MIN_SCORE": "0.99"}
    with served_through_test(site_start(site_environment, extra_env=env)) as server:
        yield server


def test_a_decline_lists_the_closest_pages_and_a_reload_keeps_them(
    watched_page, login, browser_context, site_server
) -> None:
    page, watch = watched_page
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site_server.url)
    backups, _leave = two_pages()
    login(user("related-user"))
    page.goto("/chat/")
    box = page.get_by_role("textbox", name="Your question")
    box.fill(BACKUP_QUESTION)
    box.press("Enter")
    _answers_done(page, ".chat-main", 1)
    declined = page.locator(".chat-message--assistant").first
    assert "chat-message--declined" in (declined.get_attribute("class") or "")
    assert "doesn't cover this" in (declined.locator(".chat-message__body").text_content() or "")
    assert declined.locator(".chat-source").count() == 0, "a decline cites nothing"
    related = declined.get_by_role("navigation", name="Closest pages")
    assert "may not answer the question" in (related.text_content() or "")
    first = related.get_by_role("link").first
    assert first.text_content() == "Backups and restores › Backup schedule"
    assert (first.get_attribute("href") or "").startswith(backups.url)
    screenshot(page, "54-decline-closest-pages")
    # Copy carries the closest pages too, with absolute links.
    declined.get_by_role("button", name="Copy answer").click()
    declined.get_by_text("Answer copied.").wait_for()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    link = f"{site_server.url}{backups.url}#backup-schedule"
    assert f"\n\nClosest pages:\n- Backups and restores › Backup schedule {link}" in copied, copied
    page.set_viewport_size({"width": 390, "height": 844})
    declined.scroll_into_view_if_needed()
    assert related.is_visible()
    screenshot(page, "55-decline-closest-pages-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.reload()
    _answers_done(page, ".chat-main", 1)
    again = page.locator(".chat-message--assistant").first
    assert again.get_by_role("navigation", name="Closest pages").get_by_role("link").first.text_content() == (
        "Backups and restores › Backup schedule"
    )
    again.get_by_role("link", name="Backups and restores › Backup schedule").click()
    page.wait_for_url(f"**{backups.url}**")
    watch.assert_clean()


def test_a_page_scoped_decline_lists_no_closest_page_but_searching_all_does(watched_page, login) -> None:
    """Inside "This page" the reader is on the one page searched: the decline offers "Search all knowledge"
    and no closest page; the search of everything, declined too, lists where it came closest."""
    page, watch = watched_page
    backups, _leave = two_pages()
    login(user("related-widget-user"))
    panel, _box = widget_first_answer(page, backups.url, BACKUP_QUESTION)
    scoped = panel.locator(".chat-message--assistant").first
    assert scoped.locator(".chat-scoped-decline__text").text_content() == "Not found on this page."
    assert scoped.locator(".chat-related").count() == 0

    scoped.get_by_role("button", name="Search all knowledge").click()
    _answers_done(page, ".chat-widget", 2)
    everywhere = panel.locator(".chat-message--assistant").nth(1)
    related = everywhere.get_by_role("navigation", name="Closest pages")
    assert (related.get_by_role("link").first.get_attribute("href") or "").startswith(backups.url)
    everywhere.scroll_into_view_if_needed()
    screenshot(page, "56-widget-decline-closest-pages")
    watch.assert_clean()
