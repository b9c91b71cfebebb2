"""The chat page: uploads with processing status, document-scoped chats, errors, narrow screens, XSS."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import screenshot, wait_for_indexed
from tests.factories import heading, knowledge_page, knowledge_section, paragraph, site_home, user
from tests.fixtures.documents import greenhouse_docx

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_upload_docx_until_indexed_then_ask_about_it(watched_page, login, tmp_path: Path) -> None:
    from knowledgebase.models import KnowledgeDocument

    docx_file = greenhouse_docx(tmp_path / "greenhouse-notes.docx")

    page, watch = watched_page
    site_home()
    owner = user("uploader")
    login(owner)
    page.goto("/chat/")
    screenshot(page, "10-chat-page-empty")

    # Checked in the browser before anything is sent.
    page.locator('[data-role="file-input"]').set_input_files(
        [{"name": "notes.exe", "mimeType": "application/octet-stream", "buffer": b"MZ..."}]
    )
    page.get_by_text("notes.exe: only PDF, DOCX, TXT, MD files can be uploaded.").wait_for()
    assert KnowledgeDocument.objects.count() == 0

    page.locator('[data-role="file-input"]').set_input_files(str(docx_file))
    row = page.locator(".chat-document").filter(has_text="greenhouse-notes")
    row.wait_for()
    screenshot(page, "11-chat-document-processing")
    page.locator('.chat-document[data-status="indexed"]').wait_for(timeout=60000)
    assert row.get_attribute("data-status") == "indexed"
    assert row.locator('[data-role="document-status"]').text_content() == "Indexed"
    document = KnowledgeDocument.objects.get(owner=owner)
    assert document.kind == "docx"
    screenshot(page, "12-chat-document-indexed")

    # Ask about the selected file only.
    row.get_by_role("checkbox").check()
    page.get_by_role("button", name="Ask about selected files").click()
    assert page.locator('[data-role="title"]').text_content() == "About greenhouse-notes"
    box = page.get_by_role("textbox", name="Your question")
    box.fill("How often are the orchids in the greenhouse watered?")
    box.press("Enter")
    answer = page.locator(".chat-message--assistant").last
    page.wait_for_function(
        "() => document.querySelector('.chat-message--assistant[data-status]')", timeout=30000
    )
    assert answer.get_attribute("data-status") == "complete", answer.text_content()
    assert "Thursday" in (answer.locator(".chat-message__body").text_content() or "")
    source = answer.locator(".chat-source__link").first
    assert (source.get_attribute("href") or "").startswith(f"/knowledge/documents/{document.pk}/")
    # The new session is listed and scoped to the document.
    session_button = page.locator(".chat-session[aria-current=true]")
    session_button.wait_for()
    from chatbot.models import ChatSession

    assert ChatSession.objects.get(user=owner).scope == [f"document:{document.pk}"]
    screenshot(page, "13-chat-answer-about-document")
    watch.assert_clean()


def xss_page() -> Any:
    section = knowledge_section("Security", "security")
    page = knowledge_page(
        section,
        title="Release notes markup",
        body=[
            heading("Release markers"),
            # Rich text as the editor stores typed text: the markup is text, escaped.
            paragraph("Editors sometimes paste &lt;img src=x onerror=alert(1)&gt; into pages by mistake."),
            paragraph(
                "Every release note must end with the marker &lt;script&gt;alert(1)&lt;/script&gt; "
                "for the deployment checklist."
            ),
        ],
    )
    wait_for_indexed("page", page.pk)
    return page


def test_markup_in_pages_and_answers_runs_nothing(watched_page, login) -> None:
    page, watch = watched_page
    knowledge = xss_page()
    login(user("xss-user"))
    page.goto(knowledge.url)
    assert "<img src=x onerror=alert(1)>" in (page.locator("article").text_content() or "")
    page.get_by_role("button", name="Ask about this page").click()
    box = page.get_by_role("textbox", name="Your question")
    box.fill("What marker must every release note end with for the deployment checklist?")
    box.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('.chat-widget .chat-message--assistant[data-status]')", timeout=30000
    )
    answer = page.locator(".chat-widget .chat-message--assistant").last
    # The extractive answerer drops tags from the sentence it quotes; the source card quotes the passage
    # as it is, so the markup reaches the page as data (the renderer's own handling of it in answer text is
    # tested in test_markdown.py).
    assert "Every release note must end with the marker" in (
        answer.locator(".chat-message__body").text_content() or ""
    )
    assert "<script>alert(1)</script>" in (answer.locator(".chat-source__excerpt").first.text_content() or "")
    assert answer.locator("script, img, iframe").count() == 0
    page.locator(".chat-scope label", has_text="All knowledge").click()
    page.locator(".chat-widget .chat-message--assistant").wait_for(state="detached")
    box.fill("What do editors sometimes paste into pages by mistake?")
    box.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('.chat-widget .chat-message--assistant[data-status]')", timeout=30000
    )
    answer = page.locator(".chat-widget .chat-message--assistant").last
    assert "<img src=x onerror=alert(1)>" in (answer.text_content() or "")
    assert page.locator(".chat-widget img, .chat-widget script:not([src])").count() == 0
    page.wait_for_timeout(300)  # let an onerror handler fire if an image had been created
    screenshot(page, "20-xss-answers-are-text")
    watch.assert_clean()


def test_rate_limit_and_search_outage_are_explained(watched_page, login, site_server) -> None:
    from django.conf import settings
    from django.test import RequestFactory

    from chatbot.api.exceptions import RateLimited
    from chatbot.api.ratelimit import MESSAGES, rate_limit_hit

    page, watch = watched_page
    site_home()
    # An id of its own: the rate counters in Redis outlive the test database, and ids restart with it.
    asker = user("limited", id=random.randint(10**6, 10**9))
    login(asker)
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto("/chat/")
    box = page.get_by_role("textbox", name="Your question")

    # Elasticsearch unreachable from the site: the answer says search is down, with a retry.
    site_server.search_proxy.disable()
    try:
        box.fill("Where are the backups stored?")
        box.press("Enter")
        notice = page.get_by_text("The knowledge search is unavailable right now", exact=False).first
        notice.wait_for(timeout=30000)
        retry = page.locator(".chat-message--notice").get_by_role("button", name="Retry")
        assert retry.is_enabled()
        screenshot(page, "30-search-unavailable-375px")
    finally:
        site_server.search_proxy.enable()

    # Use up the user's message rate (the same counters in Redis the site reads).
    request = RequestFactory().post("/")
    request.user = asker
    limit = int(settings.CHATBOT_RATE_MESSAGES.split("/")[0])
    with pytest.raises(RateLimited):
        for _ in range(limit + 1):
            rate_limit_hit(request, group=MESSAGES)
    box.fill("And how long are they kept?")
    box.press("Enter")
    limited = page.locator(".chat-message--rate-limited")
    limited.wait_for()
    assert "You can ask again in" in (limited.text_content() or "")
    assert limited.get_by_role("button", name="Retry").is_disabled()
    screenshot(page, "31-rate-limited-375px")
    # Nothing is wider than the 375 px viewport.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    watch.failed_responses = [r for r in watch.failed_responses if not r.startswith("429 ")]
    watch.assert_clean()


MESSAGES_LIST = "**/api/chatbot/sessions/*/messages/"


def _session_with_history_held(page: Any, login: Any, username: str) -> tuple[Any, list[Any]]:
    """A chat with one question and answer, opened with its messages request held (not answered) until the
    test continues it."""
    from chatbot.models import ChatSession, Message

    asker = user(username)
    session = ChatSession.objects.create(user=asker, title="Backups")
    Message.objects.create(session=session, role="user", content="Where are backups kept?")
    Message.objects.create(session=session, role="assistant", content="In a second data centre.")
    held: list[Any] = []
    page.route(MESSAGES_LIST, lambda route: held.append(route))
    login(asker)
    page.goto(f"/chat/?session={session.uuid}")
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the chat page did not ask for the session's messages"
    return session, held


def test_a_question_asked_while_the_history_loads_is_kept_and_answered(watched_page, login) -> None:
    """The history request is held until the question has been sent: the loaded history goes above the
    question, and the question is not in it. Before, the history replaced the log, taking the question and
    its streaming answer with it (seen once in CI, and 2 of 6 runs on a machine with both cores busy)."""
    from chatbot.models import Message

    page, watch = watched_page
    section = knowledge_section("Operations", "operations")
    knowledge = knowledge_page(
        section,
        title="Backups and restores",
        body=[
            heading("Backup schedule"),
            paragraph(
                "Backups of the knowledge database are taken every six hours and kept for thirty days."
            ),
        ],
    )
    wait_for_indexed("page", knowledge.pk)
    session, held = _session_with_history_held(page, login, "history-race-user")
    box = page.get_by_role("textbox", name="Your question")
    box.fill("How often are backups of the knowledge database taken?")
    box.press("Enter")
    page.locator(".chat-main .chat-message--user").wait_for()
    page.wait_for_timeout(500)  # the question would be on its way now, were it not waiting for the history
    assert Message.objects.filter(session=session).count() == 2
    screenshot(page, "14-chat-question-waits-for-history")
    held[0].continue_()
    page.unroute(MESSAGES_LIST)
    page.wait_for_function(
        "() => document.querySelectorAll('.chat-main .chat-message--assistant[data-status]').length >= 2",
        timeout=30000,
    )
    questions = [text.strip() for text in page.locator(".chat-main .chat-message--user").all_text_contents()]
    assert questions == ["Where are backups kept?", "How often are backups of the knowledge database taken?"]
    answers = page.locator(".chat-main .chat-message--assistant")
    assert answers.count() == 2
    assert "every six hours" in (answers.nth(1).locator(".chat-message__body").text_content() or "")
    assert Message.objects.filter(session=session).count() == 4
    screenshot(page, "15-chat-history-above-the-new-answer")
    watch.assert_clean()


def test_stop_works_while_a_question_waits_for_the_history(watched_page, login) -> None:
    from chatbot.models import Message

    page, watch = watched_page
    session, held = _session_with_history_held(page, login, "history-stop-user")
    box = page.get_by_role("textbox", name="Your question")
    box.fill("How often are backups taken?")
    box.press("Enter")
    stop = page.get_by_role("button", name="Stop")
    stop.click()
    page.locator('.chat-main .chat-message--assistant[data-status="partial"]').wait_for(timeout=5000)
    assert stop.is_hidden()
    held[0].continue_()
    page.unroute(MESSAGES_LIST)
    page.get_by_text("In a second data centre.").wait_for()
    questions = [text.strip() for text in page.locator(".chat-main .chat-message--user").all_text_contents()]
    assert questions == ["Where are backups kept?", "How often are backups taken?"]
    assert Message.objects.filter(session=session).count() == 2  # the stopped question was never sent
    watch.assert_clean()
