"""The widget's third scope (issue 21, item 4): "This section" asks the page's section and the pages under
it, through the session's `filters` (search.filters), so a better match elsewhere is not used."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot, wait_for_indexed
from tests.factories import heading, knowledge_page, knowledge_section, paragraph, user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_widget_asks_the_pages_section(watched_page, login) -> None:
    from chatbot.models import ChatSession

    page, _ = watched_page
    operations = knowledge_section("Operations", "operations")
    backups = knowledge_page(
        operations,
        title="Backups",
        body=[heading("Schedule"), paragraph("Backups of the database are taken every six hours.")],
    )
    monitoring = knowledge_page(
        operations,
        title="Monitoring",
        body=[heading("Alerts"), paragraph("Monitoring alerts are sent to the on-call phone of operations.")],
    )
    finance = knowledge_page(
        knowledge_section("Finance", "finance"),
        title="Budget alerts",
        body=[heading("Alerts"), paragraph("Budget alerts are sent to the finance mailbox every Monday.")],
    )
    for source in (backups, monitoring, finance):
        wait_for_indexed("page", source.pk)
    asker = user("section-asker")
    login(asker)

    page.goto(backups.url)
    page.get_by_role("button", name="Ask about this page").click()
    panel = page.get_by_role("dialog", name="Ask the knowledge base")
    panel.locator("label", has_text="This section (Operations)").click()  # the radio itself is hidden
    assert panel.get_by_label("This section (Operations)").is_checked()
    question_box = panel.get_by_role("textbox", name="Your question")
    question_box.fill("Where are alerts sent?")
    question_box.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('.chat-widget .chat-message--assistant[data-status]')", timeout=30000
    )
    answer = panel.locator(".chat-message--assistant").last
    screenshot(page, "widget-section-answer")
    assert "on-call phone" in (answer.text_content() or "")
    links = [link.get_attribute("href") for link in answer.locator(".chat-source__link").all()]
    assert links and all((href or "").startswith(monitoring.url) for href in links), links

    session = ChatSession.objects.get(user=asker)
    assert session.scope == []
    assert session.settings["filters"] == {"section": f"page:{operations.pk}"}
