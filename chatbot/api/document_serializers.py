"""Request and response shapes of the API's documents endpoints (a user's own files)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from knowledgebase.models import KnowledgeDocument

from .processing import DocumentProcessing, document_processing


class DocumentSerializer(serializers.ModelSerializer):
    url = serializers.CharField(source="get_url", read_only=True)
    filename = serializers.CharField(read_only=True)
    file_type = serializers.CharField(source="kind", read_only=True, help_text="The same as `kind`.")
    content_hash = serializers.CharField(
        source="file_hash", read_only=True, help_text="SHA-256 of the file's bytes."
    )
    uploaded_at = serializers.DateTimeField(
        source="created_at", read_only=True, help_text="The same as `created_at`."
    )
    processed = serializers.SerializerMethodField(help_text="Indexed: the file can be asked about.")
    total_chunks = serializers.SerializerMethodField(help_text="Chunks of the file in the index.")
    processing_metadata = serializers.SerializerMethodField(
        help_text="The latest processing job's status and error, and what extraction found (pages, "
        "characters, warnings)."
    )
    processed_at = serializers.SerializerMethodField(help_text="When the file was last indexed.")

    class Meta:
        model = KnowledgeDocument
        fields = [
            "id",
            "title",
            "description",
            "filename",
            "file_type",
            "kind",
            "file_size",
            "content_hash",
            "processed",
            "total_chunks",
            "processing_metadata",
            "live",
            "url",
            "uploaded_at",
            "processed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def _state(self, document: KnowledgeDocument) -> DocumentProcessing:
        # The list view passes every row's state in one go (three queries for the page).
        states = self.context.get("processing")
        if states is not None and document.pk in states:
            return states[document.pk]
        return document_processing([document.pk])[document.pk]

    def get_processed(self, document: KnowledgeDocument) -> bool:
        return self._state(document).processed

    def get_total_chunks(self, document: KnowledgeDocument) -> int:
        return self._state(document).total_chunks

    @extend_schema_field(serializers.DictField())
    def get_processing_metadata(self, document: KnowledgeDocument) -> dict[str, Any]:
        return self._state(document).metadata

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_processed_at(self, document: KnowledgeDocument) -> Any:
        processed_at = self._state(document).processed_at
        return serializers.DateTimeField().to_representation(processed_at) if processed_at else None


class DocumentUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="PDF, DOCX, TXT or Markdown.")
    title = serializers.CharField(max_length=255, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)


class DocumentStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The document's id.")
    document_id = serializers.IntegerField(help_text="The same as `id`.")
    status = serializers.CharField(help_text="The latest indexing job's status, or 'not_queued'.")
    processed = serializers.BooleanField(help_text="Indexed: the file can be asked about.")
    progress_done = serializers.IntegerField()
    progress_total = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    error_code = serializers.CharField(allow_blank=True)
    total_chunks = serializers.IntegerField(help_text="Chunks in the index.")
    chunk_count = serializers.IntegerField(help_text="The same as `total_chunks`.")
    processed_at = serializers.DateTimeField(allow_null=True, help_text="When it was last indexed.")
    indexed_at = serializers.DateTimeField(allow_null=True, help_text="The same as `processed_at`.")
    processing_metadata = serializers.DictField(help_text="As in the document.")
    live = serializers.BooleanField()
