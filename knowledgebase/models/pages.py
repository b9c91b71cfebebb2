"""Knowledge as Wagtail pages: revisions, drafts, moderation workflows and page privacy come from Wagtail."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy
from modelcluster.contrib.taggit import ClusterTaggableManager
from modelcluster.fields import ParentalKey
from taggit.models import TaggedItemBase
from wagtail.admin.panels import FieldPanel, ObjectList, TabbedInterface
from wagtail.blocks import StreamValue
from wagtail.fields import RichTextField, StreamField
from wagtail.models import Page
from wagtail.search import index

from knowledgebase.anchors import heading_anchor
from knowledgebase.blocks import body_blocks
from knowledgebase.panels import IndexingStatusPanel, ObjectListWithEditPanels


class HomePage(Page):
    """The site's root page: an introduction and the way into the knowledge base and the chat."""

    intro = RichTextField(blank=True)

    content_panels = [*Page.content_panels, FieldPanel("intro")]
    max_count = 1
    template = "knowledgebase/home_page.html"


class KnowledgeIndexPage(Page):
    """A section of the knowledge base; its children are knowledge pages and sub-sections."""

    intro = RichTextField(blank=True)
    source_path = models.CharField(
        max_length=500, blank=True, help_text="Folder this section was imported from."
    )

    content_panels = [*Page.content_panels, FieldPanel("intro")]
    subpage_types = ["knowledgebase.KnowledgePage", "knowledgebase.KnowledgeIndexPage"]
    template = "knowledgebase/knowledge_index_page.html"

    def get_context(self, request: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context(request, *args, **kwargs)
        context["children"] = self.get_children().live().public().specific().order_by("title")
        return context


@dataclass(frozen=True)
class RenderedBlock:
    block: Any
    anchor: str  # set on heading blocks only


class KnowledgePageTag(TaggedItemBase):
    """A tag on a knowledge page (what the `tags` search filter matches)."""

    content_object = ParentalKey(
        "knowledgebase.KnowledgePage", related_name="tagged_items", on_delete=models.CASCADE
    )


class KnowledgePage(Page):
    """A knowledge document written in the admin (or imported from Markdown)."""

    summary = models.TextField(blank=True, help_text="One or two sentences; shown in listings and search.")
    body = StreamField(body_blocks(), blank=True, use_json_field=True)
    source_path = models.CharField(
        max_length=500, blank=True, db_index=True, help_text="File this page was imported from, if any."
    )
    source_hash = models.CharField(max_length=64, blank=True, editable=False)
    tags = ClusterTaggableManager(
        through=KnowledgePageTag, blank=True, help_text="Searches can be filtered by tag."
    )

    content_panels = [
        *Page.content_panels,
        FieldPanel("summary"),
        FieldPanel("body"),
        IndexingStatusPanel(source_type="page", heading="In the knowledge index"),
    ]
    promote_panels = [*Page.promote_panels, FieldPanel("tags"), FieldPanel("source_path", read_only=True)]
    # Wagtail's three tabs, the content tab ending with the panels KNOWLEDGE_EDIT_PANELS adds.
    edit_handler = TabbedInterface(
        [
            ObjectListWithEditPanels(content_panels, heading=gettext_lazy("Content"), source_type="page"),
            ObjectList(promote_panels, heading=gettext_lazy("Promote")),
            ObjectList(Page.settings_panels, heading=gettext_lazy("Settings")),
        ]
    )
    search_fields = [*Page.search_fields, index.SearchField("summary"), index.SearchField("body")]
    parent_page_types = ["knowledgebase.KnowledgeIndexPage"]
    subpage_types: list[str] = []
    template = "knowledgebase/knowledge_page.html"

    def body_with_anchors(self) -> Iterator[RenderedBlock]:
        """The body in order, each heading with the id the chunker gives it too."""
        seen: dict[str, int] = {}
        stream: StreamValue = self.body
        for block in stream:
            anchor = heading_anchor(block.value["text"], seen) if block.block_type == "heading" else ""
            yield RenderedBlock(block=block, anchor=anchor)
