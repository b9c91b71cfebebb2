"""The chat widget on a knowledge page: streaming, sources, feedback, history after a reload."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import screenshot, wait_for_indexed
from tests.factories import heading, knowledge_page, knowledge_section, paragraph, user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUESTION = "How often are backups of the knowledge database taken?"


def publishing_page() -> Any:
    section = knowledge_section("Operations", "operations")
    page = knowledge_page(
        section,
        title="Backups and restores",
        body=[
            heading("Overview"),
            paragraph("This page explains how the operations team keeps the site's data safe."),
            heading("Backup schedule"),
            paragraph(
                "Backups of the knowledge database are taken every six hours and kept for thirty days. "
                "Each backup is copied to a second data centre within ten minutes of being taken."
            ),
            heading("Restoring"),
            paragraph("A restore is requested through the service desk and takes about an hour."),
        ],
    )
    wait_for_indexed("page", page.pk)
    return page


# Records every state of the streaming answer: (text length, still streaming?) per DOM change.
RECORD_STREAM = """
() => {
  window.__answerStates = [];
  const log = document.querySelector('.chat-widget [data-role="log"]');
  new MutationObserver(() => {
    const answer = log.querySelector('.chat-message--assistant:last-of-type');
    if (!answer) return;
    const body = answer.querySelector('.chat-message__body');
    window.__answerStates.push([body.textContent.length, answer.dataset.streaming === 'true']);
  }).observe(log, {subtree: true, childList: true, characterData: true, attributes: true});
}
"""


def test_widget_streams_cites_takes_feedback_and_keeps_history(watched_page, login) -> None:
    from chatbot.models import MessageFeedback

    page, watch = watched_page
    knowledge = publishing_page()
    asker = user("widget-user")
    login(asker)

    page.goto(knowledge.url)
    launcher = page.get_by_role("button", name="Ask about this page")
    screenshot(page, "01-knowledge-page-with-launcher")
    launcher.click()
    panel = page.get_by_role("dialog", name="Ask the knowledge base")
    assert panel.is_visible()
    question_box = panel.get_by_role("textbox", name="Your question")
    assert question_box.evaluate("el => el === document.activeElement")
    assert panel.get_by_label("This page").is_checked()
    _assert_page_text_is_not_covered(page)
    screenshot(page, "02-widget-open")

    page.evaluate(RECORD_STREAM)
    question_box.fill(QUESTION)
    question_box.press("Enter")
    answer = panel.locator(".chat-message--assistant").last
    page.wait_for_function(
        "() => document.querySelector('.chat-widget .chat-message--assistant[data-streaming=\"true\"]')"
        " && document.querySelector('.chat-widget .chat-message--assistant .chat-message__body')"
        ".textContent.length > 10"
    )
    screenshot(page, "03-widget-streaming")
    page.wait_for_function(
        "() => document.querySelector('.chat-widget .chat-message--assistant[data-status]')", timeout=30000
    )
    screenshot(page, "04-widget-answer-complete")

    states = page.evaluate("window.__answerStates")
    streaming_lengths = sorted({length for length, streaming in states if streaming and length})
    final_length = len(answer.locator(".chat-message__body").text_content() or "")
    # The text grew in several steps while the answer was still streaming, before it completed.
    assert len(streaming_lengths) >= 3, states
    assert streaming_lengths[0] < final_length
    assert answer.get_attribute("data-status") == "complete"
    assert "six hours" in (answer.text_content() or "")
    assert panel.locator("[data-role=announcer]").text_content().startswith("Answer complete.")

    # The source card links to the page's section anchor; the citation marker links to the card.
    source_link = answer.locator(".chat-source__link").first
    href = source_link.get_attribute("href") or ""
    assert href == f"{knowledge.url}#backup-schedule", href
    citation = answer.locator("a.chat-cite").first
    citation.click()
    card_id = (citation.get_attribute("href") or "").lstrip("#")
    assert page.evaluate("id => document.activeElement.id === id", card_id)

    # Thumbs down with a comment is stored.
    answer.get_by_role("button", name="Not helpful answer").click()
    comment = answer.get_by_label("What was wrong or missing? (optional)")
    comment.fill("It should say where the backups are stored.")
    answer.get_by_role("button", name="Send feedback").click()
    answer.get_by_text("Thanks for your feedback.").wait_for()
    screenshot(page, "05-widget-feedback-sent")
    feedback = MessageFeedback.objects.get(user=asker)
    assert feedback.rating == "down"
    assert feedback.comment == "It should say where the backups are stored."
    assert feedback.message.role == "assistant"
    assert feedback.message.session.scope == [f"page:{knowledge.pk}"]

    # Stop aborts the stream; the server keeps what was streamed as a partial answer.
    question_box.fill("How long are backups kept and where are they copied?")
    question_box.press("Enter")
    page.wait_for_function(
        "() => { const a = document.querySelectorAll('.chat-widget .chat-message--assistant')[1];"
        " return a && a.dataset.streaming === 'true' && a.querySelector('.chat-message__body').textContent; }"
    )
    panel.get_by_role("button", name="Stop").click()
    stopped = panel.locator(".chat-message--assistant").nth(1)
    page.wait_for_function(
        "() => document.querySelectorAll('.chat-widget .chat-message--assistant')[1].dataset.status"
    )
    assert stopped.get_attribute("data-status") == "partial"
    assert "Stopped before the answer was complete." in (stopped.text_content() or "")
    assert panel.get_by_role("button", name="Send").is_visible()
    screenshot(page, "06-widget-stopped")
    _wait_for_partial_saved(feedback.message.session)

    # After a reload the widget reopens with the same session's history.
    page.reload()
    panel = page.get_by_role("dialog", name="Ask the knowledge base")
    panel.locator(".chat-message--assistant").first.wait_for()
    assert panel.locator(".chat-message--user").first.text_content() == QUESTION
    assert "six hours" in (panel.locator(".chat-message--assistant").first.text_content() or "")
    assert panel.locator(".chat-message--user").count() == 2
    assert panel.locator('.chat-message--assistant[data-status="partial"]').count() == 1
    # The thumbs-down given before the reload is still shown as pressed, with the comment kept.
    first_answer = panel.locator(".chat-message--assistant").first
    assert (
        first_answer.get_by_role("button", name="Not helpful answer").get_attribute("aria-pressed") == "true"
    )
    assert (
        first_answer.get_by_role("button", name="Helpful answer", exact=True).get_attribute("aria-pressed")
        == "false"
    )
    assert "You marked this as not helpful." in (
        first_answer.locator(".chat-actions__status").text_content() or ""
    )
    first_answer.get_by_role("button", name="Helpful answer", exact=True).click()
    first_answer.get_by_text("Marked as helpful.").wait_for()
    assert first_answer.get_by_label("What was good about it? (optional)").input_value() == ""
    assert (
        first_answer.get_by_role("button", name="Not helpful answer").get_attribute("aria-pressed") == "false"
    )
    feedback.refresh_from_db()
    assert feedback.rating == "up"
    _assert_page_text_is_not_covered(page)
    screenshot(page, "07-widget-history-after-reload")

    # Esc closes the panel and gives focus back to the launcher.
    panel.get_by_role("textbox", name="Your question").press("Escape")
    assert not panel.is_visible()
    assert page.get_by_role("button", name="Ask about this page").evaluate(
        "el => el === document.activeElement"
    )
    # Closed, the page takes its full width again.
    assert page.evaluate("getComputedStyle(document.body).marginRight") == "0px"
    watch.assert_clean()


def _assert_page_text_is_not_covered(page: Any) -> None:
    """On a wide screen the open panel docks beside the page instead of floating over its text."""
    main = page.locator("main.site-main").bounding_box()
    panel = page.locator(".chat-widget .chat-panel").bounding_box()
    assert main and panel
    assert main["x"] + main["width"] <= panel["x"] + 1, (main, panel)
    assert panel["height"] >= page.viewport_size["height"] - 1  # a full-height side panel


def _wait_for_partial_saved(session: Any, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if session.messages.filter(role="assistant", status="partial").exists():
            return
        time.sleep(0.1)
    raise AssertionError(list(session.messages.values_list("role", "status")))


def test_widget_asks_anonymous_visitors_to_sign_in(watched_page) -> None:
    page, watch = watched_page
    knowledge = publishing_page()
    page.goto(knowledge.url)
    page.get_by_role("button", name="Ask about this page").click()
    sign_in = page.get_by_role("dialog").get_by_role("link", name="Sign in")
    assert sign_in.get_attribute("href") == f"/admin/login/?next={knowledge.url}"
    assert page.get_by_role("textbox", name="Your question").count() == 0
    screenshot(page, "08-widget-anonymous")
    watch.assert_clean()
