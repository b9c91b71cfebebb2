"""Export on the chat page (issue 21, item 5): the open session downloads as Markdown with its citations."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import screenshot, wait_for_indexed
from tests.factories import heading, knowledge_page, knowledge_section, paragraph, user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_open_chat_downloads_as_markdown_with_its_sources(watched_page, login) -> None:
    page, _ = watched_page
    backups = knowledge_page(
        knowledge_section("Operations", "operations"),
        title="Backups",
        body=[heading("Schedule"), paragraph("Backups of the database are taken every six hours.")],
    )
    wait_for_indexed("page", backups.pk)
    login(user("exporter"))
    page.goto("/chat/")
    export = page.get_by_role("link", name="Export")
    assert not export.is_visible()  # nothing to export before the first question

    box = page.get_by_role("textbox", name="Your question")
    box.fill("How often are backups taken?")
    box.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('.chat-message--assistant[data-status]')", timeout=30000
    )
    export.wait_for()
    screenshot(page, "chat-export")
    with page.expect_download() as download_info:
        export.click()
    download = download_info.value
    assert download.suggested_filename.startswith("chat-") and download.suggested_filename.endswith(".md")
    text = Path(download.path()).read_text()
    assert "## Question\n\nHow often are backups taken?" in text
    assert "six hours" in text
    assert f"1. [Backups › Schedule]({backups.url}#schedule)" in text
