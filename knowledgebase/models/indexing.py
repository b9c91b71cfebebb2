"""What the pipeline knows about each knowledge source: what is indexed, every processed version, and the
jobs that got it there (shown to editors with their progress and errors)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SourceType(models.TextChoices):
    PAGE = "page", "Page"
    DOCUMENT = "document", "Document"


class IndexedSource(models.Model):
    """The indexed state of one source. Its row is locked while the source is (re)indexed, so two tasks for
    the same source never interleave, and `revision_id` lets an older task see it has been overtaken."""

    source_type = models.CharField(max_length=16, choices=SourceType.choices)
    source_id = models.PositiveBigIntegerField()
    revision_id = models.PositiveBigIntegerField(null=True, blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    title = models.CharField(max_length=255, blank=True)
    url = models.CharField(max_length=500, blank=True)
    visibility = models.CharField(max_length=16, blank=True)
    group_ids = models.JSONField(default=list, blank=True)
    owner_id = models.PositiveBigIntegerField(null=True, blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    indexed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source_type", "source_id"], name="unique_indexed_source")
        ]

    def __str__(self) -> str:
        return f"{self.source_type}:{self.source_id}"


class DocumentVersion(models.Model):
    """One processed revision of a source: its content hash and what extraction found."""

    source_type = models.CharField(max_length=16, choices=SourceType.choices)
    source_id = models.PositiveBigIntegerField()
    revision_id = models.PositiveBigIntegerField(null=True, blank=True)
    content_hash = models.CharField(max_length=64)
    chunk_count = models.PositiveIntegerField(default=0)
    embedded_count = models.PositiveIntegerField(default=0, help_text="Chunks embedded (not reused).")
    stats = models.JSONField(default=dict, blank=True, help_text="Pages, characters, images OCR'd, warnings.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["source_type", "source_id", "-created_at"])]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.source_type}:{self.source_id}@{self.revision_id}"


class IndexingJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        INDEXED = "indexed", "Indexed"
        REMOVED = "removed", "Removed from the index"
        SUPERSEDED = "superseded", "Superseded by a newer job"
        FAILED = "failed", "Failed"

    class Action(models.TextChoices):
        INDEX = "index", "Index"
        REMOVE = "remove", "Remove"

    source_type = models.CharField(max_length=16, choices=SourceType.choices)
    source_id = models.PositiveBigIntegerField()
    revision_id = models.PositiveBigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=8, choices=Action.choices, default=Action.INDEX)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    queue = models.CharField(max_length=32, default="interactive")
    reason = models.CharField(
        max_length=64, blank=True, help_text="What triggered the job (publish, move, …)."
    )
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Deliveries that died while processing (kill -9, OOM, a crashing parser): the next delivery finds the
    # job still `processing`. The third delivery of a job interrupted twice fails it as poison.
    interruptions = models.PositiveSmallIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["source_type", "source_id", "-created_at"])]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} {self.source_type}:{self.source_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in {
            self.Status.INDEXED,
            self.Status.REMOVED,
            self.Status.SUPERSEDED,
            self.Status.FAILED,
        }


class ImportRun(models.Model):
    """A folder of Markdown imported in the background (the demo knowledge of `make run`, or
    `import_markdown --background`): the home page and the admin show its progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Importing"
        DONE = "done", "Imported"
        FAILED = "failed", "Failed"

    directory = models.CharField(max_length=1000)
    parent_path = models.CharField(max_length=255, default="/docs/")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    files_total = models.PositiveIntegerField(default=0)
    files_done = models.PositiveIntegerField(default=0)
    page_ids = models.JSONField(default=list, blank=True, help_text="Pages this import created or updated.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.directory} ({self.status})"
