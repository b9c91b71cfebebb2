"""An edit-view panel that shows how the document's processing went: status, progress, error."""

from __future__ import annotations

from typing import Any

from wagtail.admin.panels import Panel

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
