"""Answer units in the browser: an extractive answer that quotes a sentence introducing a list or a code
block shows the list as a list and the code as code after the citation, on the desktop and on a 390 px
phone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import screenshot, wait_for_indexed
from tests.factories import heading, knowledge_page, knowledge_section, user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUESTION = "Which keyword arguments does the panel constructor take?"
DONE = "(sel) => document.querySelectorAll(sel + ' .chat-message--assistant[data-status]').length"


def _answers(page: Any, question: str, shots: tuple[str, str]) -> Iterator[Any]:
    """Asks `question` in a new chat at 1280 px, then at 390 px; yields each finished answer, then takes
    its screenshot."""
    for width, name in zip((1280, 390), shots, strict=True):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto("/chat/")
        box = page.get_by_role("textbox", name="Your question")
        box.fill(question)
        box.press("Enter")
        page.wait_for_function(f"() => ({DONE})('.chat-main') >= 1", timeout=30000)
        yield page.locator(".chat-message--assistant").first
        screenshot(page, name)
        page.get_by_role("button", name="New chat").click()


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
    for message in _answers(page, QUESTION, ("46-answer-with-list", "47-answer-with-list-390px")):
        answer = message.locator(".chat-message__body")
        assert "takes these keyword arguments:" in (answer.text_content() or "")
        items = answer.locator("ul > li")
        assert items.count() == 3
        assert [(items.nth(i).locator("code").text_content() or "") for i in range(3)] == [
            "heading",
            "classname",
            "help_text",
        ]
        card = message.locator(".chat-source").first
        assert "• heading - the label shown above the field" in (card.text_content() or "")
        box_width = answer.evaluate("(el) => el.scrollWidth <= el.clientWidth")
        assert box_width, "the list fits the answer's width"
    watch.assert_clean()


CODE = "social = SocialMediaSettings.for_request(request=request)"


def test_a_page_code_block_is_quoted_as_code_after_the_sentence_introducing_it(watched_page, login) -> None:
    """A page's code block reaches the answer fenced (chunk contexts fence code), so the sentence that
    introduces it carries it and the chat shows it as a code block, not as a run-on sentence."""
    page, watch = watched_page
    settings_page = knowledge_page(
        knowledge_section("Developers", "developers"),
        title="Site settings",
        body=[
            heading("Reading settings"),
            (
                "paragraph",
                "<p>Site settings differ per site. To read them inside a view, call the class method "
                "<code>for_request</code> with the request:</p>",
            ),
            (
                "code",
                {"language": "python", "code": CODE},
            ),
            ("paragraph", "<p>The site is found from the request's host name.</p>"),
        ],
    )
    wait_for_indexed("page", settings_page.pk)
    login(user("code-reader"))
    question = "How do I read the site settings inside a view?"
    for message in _answers(page, question, ("48-answer-with-code", "49-answer-with-code-390px")):
        answer = message.locator(".chat-message__body")
        body = answer.text_content() or ""
        assert "call the class method for_request with the request:" in body
        code = answer.locator("pre code")
        assert code.count() == 1
        assert (code.first.text_content() or "").strip() == CODE
        prose = answer.evaluate("(el) => [...el.querySelectorAll('p')].map((p) => p.textContent).join(' ')")
        assert "SocialMediaSettings" not in prose, "the code ran into the prose"
    watch.assert_clean()


def test_a_quote_names_the_setting_its_heading_documents_and_cites_every_release_repeating_it(
    watched_page, login
) -> None:
    """A reference entry's sentence leaves its subject to the heading: the answer names it, as code. A
    sentence two release notes repeat is cited to both, and names the releases it leans on ("This release
    …"). Both read on the desktop and on a phone."""
    page, watch = watched_page
    developers = knowledge_section("Developers", "developers")
    settings_page = knowledge_page(
        developers,
        title="Cache settings",
        body=[
            heading("ZANZIBARITE_TIMEOUT"),
            (
                "paragraph",
                "<p>Defaults to ten minutes: how long the zanzibarite tag keeps a rendered fragment.</p>",
            ),
        ],
    )
    fix = "This release fixes the zanzibarite tag serving cached fragments to signed-in users."
    releases = [
        knowledge_page(developers, title=title, body=[heading("Bug fixes"), ("paragraph", f"<p>{fix}</p>")])
        for title in ("Release 2.1.4 notes", "Release 2.2.1 notes")
    ]
    for made in (settings_page, *releases):
        wait_for_indexed("page", made.pk)
    login(user("reference-reader"))
    question = "How long does the zanzibarite tag keep a rendered fragment by default?"
    for message in _answers(
        page, question, ("50-answer-names-the-setting", "51-answer-names-the-setting-390px")
    ):
        answer = message.locator(".chat-message__body")
        first = answer.locator("p").first
        assert (first.locator("code").first.text_content() or "") == "ZANZIBARITE_TIMEOUT"
        assert (first.text_content() or "").startswith("ZANZIBARITE_TIMEOUT: Defaults to ten minutes")
    question = "Which releases fixed the zanzibarite tag serving cached fragments to signed-in users?"
    for message in _answers(
        page, question, ("52-answer-cites-both-releases", "53-answer-cites-both-releases-390px")
    ):
        body = message.locator(".chat-message__body")
        text = body.text_content() or ""
        assert "Release 2.1.4 notes" in text and "Release 2.2.1 notes" in text, text
        assert body.locator(".chat-cite").count() == 2
        titles = message.locator(".chat-source").all_text_contents()
        assert sum("Release 2.1.4 notes" in t for t in titles) == 1
        assert sum("Release 2.2.1 notes" in t for t in titles) == 1
        assert body.evaluate("(el) => el.scrollWidth <= el.clientWidth"), "the answer fits its width"
    watch.assert_clean()
