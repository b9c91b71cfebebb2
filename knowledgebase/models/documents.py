"""Uploaded files as knowledge: a snippet with drafts, revisions, locking, previews and moderation
workflows, so an upload goes through the same approval as a page before it becomes retrievable."""

from __future__ import annotations

import re
import uuid
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from modelcluster.contrib.taggit import ClusterTaggableManager
from modelcluster.fields import ParentalKey
from modelcluster.models import ClusterableModel
from taggit.models import TaggedItemBase
from wagtail.admin.panels import FieldPanel
from wagtail.models import (
    Collection,
    DraftStateMixin,
    LockableMixin,
    PreviewableMixin,
    RevisionMixin,
    WorkflowMixin,
)
from wagtail.search import index

from datacollection.storage import private_storage
from knowledgebase.forms import KnowledgeDocumentForm
from knowledgebase.panels import IndexingStatusPanel, ObjectListWithEditPanels


def document_upload_to(instance: KnowledgeDocument, filename: str) -> str:
    """A random name in the private storage: the uploader's file name made stored files' URLs guessable.
    The name the uploader gave is kept on the row (downloads and the API show it)."""
    instance.original_filename = PurePath(filename).name[:255]
    suffix = PurePath(filename).suffix.lower()
    suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""
    return f"knowledge/{uuid.uuid4().hex}{suffix}"


class KnowledgeDocumentTag(TaggedItemBase):
    """A tag on a knowledge file (what the `tags` search filter matches, as on pages)."""

    content_object = ParentalKey(
        "knowledgebase.KnowledgeDocument", related_name="tagged_items", on_delete=models.CASCADE
    )


# A ClusterableModel, as Wagtail's "tagging snippets" asks: a draft's tags then live in its revision and
# reach the row (and the tag filter) only when the draft is published.
class KnowledgeDocument(
    WorkflowMixin, DraftStateMixin, LockableMixin, RevisionMixin, PreviewableMixin, ClusterableModel
):
    class Audience(models.TextChoices):
        SHARED = "shared", "Shared knowledge (visible per collection privacy once published)"
        PRIVATE = "private", "Private to its owner (the owner's own files for chat)"

    class Kind(models.TextChoices):
        PDF = "pdf", "PDF"
        DOCX = "docx", "Word document"
        TXT = "txt", "Plain text"
        MD = "md", "Markdown"

    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    file = models.FileField(upload_to=document_upload_to, storage=private_storage, max_length=500)
    original_filename = models.CharField(max_length=255, blank=True, editable=False)
    kind = models.CharField(max_length=8, choices=Kind.choices, editable=False, blank=True)
    file_size = models.PositiveBigIntegerField(default=0, editable=False)
    file_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="knowledge_documents",
    )
    collection = models.ForeignKey(
        Collection, on_delete=models.PROTECT, related_name="+", default=None, null=True, blank=True
    )
    audience = models.CharField(max_length=10, choices=Audience.choices, default=Audience.SHARED)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    tags = ClusterTaggableManager(
        through=KnowledgeDocumentTag, blank=True, help_text="Searches can be filtered by tag."
    )

    base_form_class = KnowledgeDocumentForm
    panels = [
        IndexingStatusPanel(heading="Processing"),
        FieldPanel("title"),
        FieldPanel("file"),
        FieldPanel("description"),
        FieldPanel("collection"),
        FieldPanel("tags"),
        FieldPanel("audience"),
        FieldPanel("owner"),
    ]
    # The panels, then those KNOWLEDGE_EDIT_PANELS adds.
    edit_handler = ObjectListWithEditPanels(panels, source_type="document")

    # Wagtail's own admin search over documents (not knowledge retrieval).
    search_fields = [index.SearchField("title"), index.SearchField("description")]

    class Meta:
        verbose_name = "knowledge document"
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return self.title

    @property
    def filename(self) -> str:
        """The name the uploader gave the file (the stored name is random)."""
        return self.original_filename or (self.file.name or "").rsplit("/", 1)[-1]

    def get_url(self) -> str:
        """The document's page on the site (cited by answers)."""
        return reverse("knowledgebase:document", args=[self.pk])

    def get_preview_template(self, request: Any, mode_name: str) -> str:
        return "knowledgebase/document_detail.html"

    def get_preview_context(self, request: Any, mode_name: str) -> dict[str, Any]:
        return {"document": self, "preview": True}
