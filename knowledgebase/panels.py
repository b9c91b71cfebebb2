"""Edit-view panels of knowledge pages and documents: how the source's processing went (status, progress,
error), and the list that ends with the panels other apps add through KNOWLEDGE_EDIT_PANELS."""

from __future__ import annotations

from typing import Any

from wagtail.admin.panels import ObjectList, Panel

from knowledgebase.conf import edit_panels
from knowledgebase.models.indexing import SourceType


class IndexingStatusPanel(Panel):
    def __init__(self, source_type: str = SourceType.DOCUMENT, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source_type = source_type

    def clone_kwargs(self) -> dict[str, Any]:
        return {**super().clone_kwargs(), "source_type": self.source_type}

    class BoundPanel(Panel.BoundPanel):
        template_name = "knowledgebase/admin/indexing_status_panel.html"

        def get_context_data(self, parent_context: Any = None) -> dict[str, Any]:
            from knowledgebase.selectors import source_status

            context = super().get_context_data(parent_context)
            pk = getattr(self.instance, "pk", None)
            context["status"] = source_status(self.panel.source_type, pk) if pk else None
            return context


class ObjectListWithEditPanels(ObjectList):
    """An ObjectList that ends with the panels KNOWLEDGE_EDIT_PANELS names, each made with `source_type`
    ("page" or "document"): how a higher layer (the chatbot's answer feedback) adds to these edit views
    without knowledgebase importing it or the higher layer rewriting knowledgebase's classes. They are
    resolved when Wagtail first binds the edit handler to its model (all apps ready), not at import."""

    children: Any  # PanelGroup's, untyped

    def __init__(self, children: Any = (), *args: Any, source_type: str, **kwargs: Any) -> None:
        super().__init__(children, *args, **kwargs)
        self.source_type = source_type

    def clone_kwargs(self) -> dict[str, Any]:
        return {**super().clone_kwargs(), "source_type": self.source_type}

    def on_model_bound(self) -> None:
        self.children = [*self.children, *edit_panels(source_type=self.source_type)]
        super().on_model_bound()
