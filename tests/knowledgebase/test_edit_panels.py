"""KNOWLEDGE_EDIT_PANELS: the hook through which a higher app (the chatbot's answer feedback) adds a panel to
the edit views of knowledge pages and documents, instead of rewriting knowledgebase's classes."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from chatbot.panels import AnswerFeedbackPanel
from knowledgebase.conf import settings_check
from knowledgebase.models import KnowledgeDocument, KnowledgePage


def bound_page_content() -> Any:
    """The content tab of a freshly bound page edit handler (Wagtail caches the one it serves)."""
    return KnowledgePage.edit_handler.bind_to_model(KnowledgePage).children[0]


def bound_document() -> Any:
    return KnowledgeDocument.edit_handler.bind_to_model(KnowledgeDocument)


def test_the_configured_panel_ends_the_page_content_tab_and_the_document_panels(settings: Any) -> None:
    settings.KNOWLEDGE_EDIT_PANELS = ["chatbot.panels.AnswerFeedbackPanel"]
    content, document = bound_page_content(), bound_document()
    assert sum(isinstance(p, AnswerFeedbackPanel) for p in content.children) == 1
    assert isinstance(content.children[-1], AnswerFeedbackPanel)
    assert content.children[-1].source_type == "page"
    assert content.children[-1].model is KnowledgePage
    assert isinstance(document.children[-1], AnswerFeedbackPanel)
    assert document.children[-1].source_type == "document"
    # Nothing rewrites knowledgebase's own declarations.
    declared = [*KnowledgePage.content_panels, *KnowledgeDocument.panels]
    assert not any(isinstance(panel, AnswerFeedbackPanel) for panel in declared)


def test_without_the_setting_the_edit_views_have_only_their_own_panels(settings: Any) -> None:
    settings.KNOWLEDGE_EDIT_PANELS = []
    content, document = bound_page_content(), bound_document()
    assert len(content.children) == len(KnowledgePage.content_panels)
    assert len(document.children) == len(KnowledgeDocument.panels)
    assert not any(isinstance(p, AnswerFeedbackPanel) for p in [*content.children, *document.children])


def test_the_served_edit_views_show_the_feedback_panel() -> None:
    content = KnowledgePage.get_edit_handler().children[0]
    assert isinstance(content.children[-1], AnswerFeedbackPanel)
    assert content.children[-1].heading == "Answer feedback"


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (["chatbot.panels.NoSuchPanel"], "cannot import 'chatbot.panels.NoSuchPanel'"),
        (["chatbot.panels.source_feedback"], "chatbot.panels.source_feedback is not a Wagtail Panel class"),
        ("chatbot.panels.AnswerFeedbackPanel", "must be a list of dotted paths"),
    ],
)
def test_a_wrong_entry_is_refused_at_start_up(settings: Any, value: Any, named: str) -> None:
    settings.KNOWLEDGE_EDIT_PANELS = value
    with pytest.raises(ImproperlyConfigured, match=f"KNOWLEDGE_EDIT_PANELS.*{named}"):
        settings_check()
