"""Chat polish on the chat page: Copy with source links, the conversation as a live log, a skip link, Tab
from the question box into the last answer's actions, and badge contrast computed from the styles."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import screenshot, wait_for_indexed
from tests.factories import heading, knowledge_page, knowledge_section, paragraph, user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUESTION = "How often are backups of the knowledge database taken?"

# WCAG 2 contrast of every .chat-badge against its own background (all badges here have an opaque one).
BADGE_CONTRASTS = """
() => {
  const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const rgb = (css) => css.match(/[\\d.]+/g).slice(0, 4).map(Number);
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  return [...document.querySelectorAll('.chat-badge')].map((badge) => {
    const style = getComputedStyle(badge);
    const bg = rgb(style.backgroundColor);
    if (bg.length === 4 && bg[3] < 1) return [badge.className, 'translucent ' + style.backgroundColor];
    const [a, b] = [luminance(rgb(style.color)), luminance(bg)];
    return [badge.className, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
  });
}
"""
# One badge of every document state documents.js shows, next to the real ones.
DOCUMENT_STATES = ["not_queued", "queued", "processing", "indexed", "failed", "removed", "superseded"]


def backups_page() -> Any:
    section = knowledge_section("Operations", "operations")
    page = knowledge_page(
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
    wait_for_indexed("page", page.pk)
    return page


def _focused(page: Any) -> str:
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return e.getAttribute('aria-label') || e.getAttribute('data-role') || e.tagName; }"
    )


def test_copy_log_skip_link_tab_order_and_badge_contrast(
    watched_page, login, browser_context, site_server
) -> None:
    page, watch = watched_page
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site_server.url)
    knowledge = backups_page()
    login(user("a11y-user"))
    page.goto("/chat/")

    # The conversation is a log that screen readers follow.
    log = page.get_by_role("log", name="Conversation")
    assert log.get_attribute("aria-live") == "polite"

    # A skip link, first in the chat, jumps over the sidebar to the question box.
    skip = page.get_by_role("link", name="Skip to the question box")
    page.locator("main").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to the question box"
    assert skip.is_visible()
    screenshot(page, "46-chat-skip-link")
    page.keyboard.press("Enter")
    box = page.get_by_role("textbox", name="Your question")
    assert box.evaluate("el => el === document.activeElement")

    box.fill(QUESTION)
    box.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('.chat-message--assistant[data-status]')", timeout=30000
    )
    answer = page.locator(".chat-message--assistant").last
    assert answer.get_attribute("data-status") == "complete"
    assert log.locator(".chat-message--assistant").count() == 1

    # Tab from the question box: Send, then the answer's actions, then back to the box.
    box.focus()
    order = []
    for _ in range(5):
        page.keyboard.press("Tab")
        order.append(_focused(page))
    assert order == ["send", "Helpful answer", "Not helpful answer", "Copy answer", "input"], order

    # Copy puts the answer and its sources' absolute links on the clipboard.
    answer.get_by_role("button", name="Copy answer").click()
    answer.get_by_text("Answer copied.").wait_for()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    body = (answer.locator(".chat-message__body").text_content() or "").strip()
    assert "six hours" in copied
    assert copied.startswith(body.split("[")[0].strip()), copied
    link = f"{site_server.url}{knowledge.url}#backup-schedule"
    assert f"\n\nSources:\n[1] Backups and restores › Backup schedule {link}" in copied, copied
    # The conversation holds only its messages (nothing stray, such as template text).
    assert log.evaluate(
        "el => [...el.childNodes].every((n) => n.nodeType === Node.ELEMENT_NODE"
        " ? n.matches('.chat-message, .chat-empty') : !n.textContent.trim())"
    )

    # Every badge on the page (the answer's label, one per document state) reads at 4.5:1 or better.
    page.evaluate(
        "(states) => { const list = document.querySelector('[data-role=\"document-list\"]');"
        " for (const s of states) { const b = document.createElement('span');"
        " b.className = 'chat-badge chat-badge--' + s; b.textContent = s; list.appendChild(b); } }",
        DOCUMENT_STATES,
    )
    contrasts = page.evaluate(BADGE_CONTRASTS)
    assert len(contrasts) == len(DOCUMENT_STATES) + 1, contrasts
    assert any("chat-badge--quoted" in name for name, _ in contrasts)
    for name, ratio in contrasts:
        assert isinstance(ratio, float) and ratio >= 4.5, (name, ratio)
    screenshot(page, "47-chat-answer-copied")
    watch.assert_clean()
