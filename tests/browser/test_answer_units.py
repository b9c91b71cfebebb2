"""Answer units in the browser: an extractive answer that quotes a sentence introducing a list shows the
list as a list after the citation, on the desktop and on a 390 px phone."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot, wait_for_indexed
from tests.factories import heading, knowledge_page, knowledge_section, user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUESTION = "Which keyword arguments does the panel constructor take?"
DONE = "(sel) => document.querySelectorAll(sel + ' .chat-message--assistant[data-status]').length"


def test_a_quoted_list_is_shown_as_a_list(watched_page, login) -> None:
    page, watch = watched_page
    panels = knowledge_page(
        knowledge_section("Developers", "developers"),
        title="Admin panels",
        body=[
            heading("Panel options"),
            (
                "paragraph",
                "<p>The panel constructor takes these keyword arguments:</p><ul>"
                "<li><code>heading</code> - the label shown above the field</li>"
                "<li><code>classname</code> - CSS classes added to the panel</li>"
                "<li><code>help_text</code> - a hint shown under the field</li></ul>"
                "<p>Panels are listed in the page model's content panels.</p>",
            ),
        ],
    )
    wait_for_indexed("page", panels.pk)
    login(user("list-reader"))
    for width, name in ((1280, "46-answer-with-list"), (390, "47-answer-with-list-390px")):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto("/chat/")
        box = page.get_by_role("textbox", name="Your question")
        box.fill(QUESTION)
        box.press("Enter")
        page.wait_for_function(f"() => ({DONE})('.chat-main') >= 1", timeout=30000)
        answer = page.locator(".chat-message--assistant").first.locator(".chat-message__body")
        assert "takes these keyword arguments:" in (answer.text_content() or "")
        items = answer.locator("ul > li")
        assert items.count() == 3
        assert [(items.nth(i).locator("code").text_content() or "") for i in range(3)] == [
            "heading",
            "classname",
            "help_text",
        ]
        card = page.locator(".chat-message--assistant").first.locator(".chat-source").first
        assert "• heading - the label shown above the field" in (card.text_content() or "")
        box_width = answer.evaluate("(el) => el.scrollWidth <= el.clientWidth")
        assert box_width, "the list fits the answer's width"
        screenshot(page, name)
        page.get_by_role("button", name="New chat").click()
    watch.assert_clean()
