"""Honest labels on extractive answers, and scoped declines that offer to search all knowledge."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import screenshot, wait_for_indexed
from tests.factories import heading, knowledge_page, knowledge_section, paragraph, user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BACKUP_QUESTION = "How often are backups of the knowledge database taken?"
ELSEWHERE_QUESTION = "How many days of annual leave do new employees get?"
DONE = "(sel) => document.querySelectorAll(sel + ' .chat-message--assistant[data-status]').length"


def two_pages() -> tuple[Any, Any]:
    """A backups page (the widget's page) and a leave page that alone answers ELSEWHERE_QUESTION."""
    section = knowledge_section("Operations", "operations")
    backups = knowledge_page(
        section,
        title="Backups and restores",
        body=[
            heading("Backup schedule"),
            paragraph(
                "Backups of the knowledge database are taken every six hours and kept for thirty days. "
                "Each backup is copied to a second data centre within ten minutes of being taken."
            ),
        ],
    )
    leave = knowledge_page(
        section,
        title="Annual leave",
        body=[
            heading("Leave allowance"),
            paragraph(
                "New employees get twenty-five days of annual leave a year, plus public holidays. "
                "Leave is booked in the staff portal at least two weeks ahead."
            ),
        ],
    )
    wait_for_indexed("page", backups.pk)
    wait_for_indexed("page", leave.pk)
    return backups, leave


def _answers_done(page: Any, container: str, count: int) -> None:
    # A function, not an expression: Playwright evaluates an expression with eval() on every poll, which
    # the site's strict CSP (script-src 'self', no 'unsafe-eval') refuses.
    page.wait_for_function(f"() => ({DONE})('{container}') >= {count}", timeout=30000)


def widget_first_answer(page: Any, url: str, question: str) -> tuple[Any, Any]:
    """Opens the widget on the page at `url` ("This page"), asks `question` and waits for the answer: the
    widget's panel and its question box."""
    page.goto(url)
    page.get_by_role("button", name="Ask about this page").click()
    panel = page.get_by_role("dialog", name="Ask the knowledge base")
    box = panel.get_by_role("textbox", name="Your question")
    box.fill(question)
    box.press("Enter")
    _answers_done(page, ".chat-widget", 1)
    return panel, box


def test_widget_labels_quotes_and_searches_all_knowledge_after_a_page_decline(watched_page, login) -> None:
    from chatbot.models import ChatSession

    page, watch = watched_page
    backups, leave = two_pages()
    asker = user("label-user")
    login(asker)
    panel, box = widget_first_answer(page, backups.url, BACKUP_QUESTION)
    answer = panel.locator(".chat-message--assistant").first
    assert answer.get_attribute("data-status") == "complete"
    cards = answer.locator(".chat-source")
    # The extractive default has no generating model: the answer says it quotes, and how many sources.
    assert answer.locator(".chat-message__label").text_content() == (
        f"Quoted from {cards.count()} source{'' if cards.count() == 1 else 's'}"
    )
    assert cards.count() >= 1
    for index in range(cards.count()):
        card = cards.nth(index)
        open_link = card.get_by_role("link", name="Open source")
        assert open_link.get_attribute("href") == card.locator(".chat-source__link").get_attribute("href")
    assert answer.locator(".chat-search-all").count() == 0
    screenshot(page, "40-widget-quoted-answer")
    page.set_viewport_size({"width": 390, "height": 844})
    answer.scroll_into_view_if_needed()
    assert answer.locator(".chat-message__label").is_visible()
    screenshot(page, "40b-widget-quoted-answer-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Not on this page: the decline says so and offers one click to search everything.
    box.fill(ELSEWHERE_QUESTION)
    box.press("Enter")
    _answers_done(page, ".chat-widget", 2)
    declined = panel.locator(".chat-message--assistant").nth(1)
    assert "chat-message--declined" in (declined.get_attribute("class") or "")
    # It names what was searched, not "the knowledge base doesn't cover this".
    assert declined.locator(".chat-scoped-decline__text").text_content() == "Not found on this page."
    assert "knowledge base doesn't cover" not in (declined.text_content() or "")
    assert declined.locator(".chat-message__label").is_hidden()
    screenshot(page, "41-widget-scoped-decline")
    page.set_viewport_size({"width": 390, "height": 844})
    declined.scroll_into_view_if_needed()
    screenshot(page, "42-widget-scoped-decline-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    declined.get_by_role("button", name="Search all knowledge").click()
    _answers_done(page, ".chat-widget", 3)
    again = panel.locator(".chat-message--assistant").nth(2)
    assert panel.locator(".chat-message--user").nth(2).text_content() == ELSEWHERE_QUESTION
    assert again.get_attribute("data-status") == "complete"
    assert "twenty-five days" in (again.locator(".chat-message__body").text_content() or "")
    assert (again.locator(".chat-source__link").first.get_attribute("href") or "").startswith(leave.url)
    assert (again.locator(".chat-message__label").text_content() or "").startswith("Quoted from ")
    # The same session now searches everything, and the widget shows it under "All knowledge".
    session = ChatSession.objects.get(user=asker)
    assert session.scope == []
    assert panel.get_by_label("All knowledge").is_checked()
    assert declined.get_by_role("button", name="Search all knowledge").count() == 0
    screenshot(page, "43-widget-searched-all")
    watch.assert_clean()


def test_chat_page_file_scoped_decline_searches_all_knowledge(watched_page, login) -> None:
    from chatbot.models import ChatSession
    from knowledgebase.models import KnowledgeDocument

    page, watch = watched_page
    _backups, leave = two_pages()
    asker = user("file-scope-user")
    # A file of the user's that holds nothing about leave (not even indexed): a scoped answer must decline.
    document = KnowledgeDocument.objects.create(
        title="Greenhouse notes", file="knowledge/greenhouse.txt", owner=asker, live=False
    )
    session = ChatSession.objects.create(
        user=asker, title="About Greenhouse notes", scope=[f"document:{document.pk}"]
    )
    login(asker)
    page.goto(f"/chat/?session={session.uuid}")
    page.get_by_text("Answers only from 1 selected file.").wait_for()
    box = page.get_by_role("textbox", name="Your question")
    box.fill(ELSEWHERE_QUESTION)
    box.press("Enter")
    _answers_done(page, ".chat-main", 1)
    declined = page.locator(".chat-message--assistant").first
    assert declined.locator(".chat-scoped-decline__text").text_content() == "Not found in these files."
    screenshot(page, "44-chat-page-files-decline")

    declined.get_by_role("button", name="Search all knowledge").click()
    _answers_done(page, ".chat-main", 2)
    again = page.locator(".chat-message--assistant").nth(1)
    assert "twenty-five days" in (again.locator(".chat-message__body").text_content() or "")
    assert (again.locator(".chat-source__link").first.get_attribute("href") or "").startswith(leave.url)
    session.refresh_from_db()
    assert session.scope == []
    assert page.locator('[data-role="scope-note"]').is_hidden()
    screenshot(page, "45-chat-page-searched-all")

    # After a reload the answer is still labelled (the REST messages carry `quoted` too).
    page.reload()
    _answers_done(page, ".chat-main", 2)
    reloaded = page.locator(".chat-message--assistant").nth(1)
    assert (reloaded.locator(".chat-message__label").text_content() or "").startswith("Quoted from ")
    watch.assert_clean()
