"""A user's own files for chat: upload (validated while and after receiving), list, detail, delete and
processing status. An upload becomes a private `KnowledgeDocument` that is published at once, so the
normal publish → index pipeline picks it up."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from knowledgebase.audit import document_delete_log
from knowledgebase.models import KnowledgeDocument
from knowledgebase.uploads import document_duplicate_for, document_upload_create
from knowledgebase.validation import install_upload_limit, upload_rejection, validate_upload

from .base import ChatAPIMixin, request_user
from .document_serializers import DocumentSerializer, DocumentStatusSerializer, DocumentUploadSerializer
from .exceptions import Conflict
from .processing import document_processing
from .ratelimit import UPLOADS, rate_limit_hit
from .serializers import ErrorSerializer


def own_documents(request: Request) -> QuerySet[KnowledgeDocument]:
    return KnowledgeDocument.objects.filter(owner=request_user(request))


@extend_schema_view(
    get=extend_schema(summary="The user's own documents, newest first"),
)
class DocumentListCreateView(ChatAPIMixin, generics.ListAPIView):
    serializer_class = DocumentSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self) -> QuerySet[KnowledgeDocument]:
        return own_documents(self.request).order_by("-created_at", "-pk")

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        # Every listed document's processing state in three queries instead of three per row.
        if args and not isinstance(args[0], KnowledgeDocument):
            rows = list(args[0])
            args = (rows, *args[1:])
            kwargs.setdefault("context", self.get_serializer_context())
            kwargs["context"]["processing"] = document_processing(row.pk for row in rows)
        return super().get_serializer(*args, **kwargs)

    def initialize_request(self, request: Any, *args: Any, **kwargs: Any) -> Request:
        if request.method == "POST":
            # First in the chain before anything (the CSRF check included) reads the body, so an oversized
            # file is refused as it arrives instead of being spooled to disk.
            install_upload_limit(request)
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        summary="Upload a file as the user's private knowledge (indexed in the background)",
        request={"multipart/form-data": DocumentUploadSerializer},
        responses={
            201: DocumentSerializer,
            400: ErrorSerializer,
            409: ErrorSerializer,
            413: ErrorSerializer,
            429: ErrorSerializer,
            503: ErrorSerializer,
            507: ErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        rate_limit_hit(request, group=UPLOADS)
        data = request.data  # parses the body through the size-limited handler
        rejection = upload_rejection(request._request)
        if rejection is not None:
            raise rejection
        serializer = DocumentUploadSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        validated = validate_upload(upload, filename=upload.name, size=upload.size)
        duplicate = document_duplicate_for(request.user, sha256=validated.sha256)
        if duplicate is not None:
            raise Conflict(
                f"This file has the same content as “{duplicate.title}”; it is not uploaded twice.",
                code="duplicate",
                extra={
                    "document_id": duplicate.pk,
                    "url": duplicate.get_url(),
                    "api_url": reverse("chatbot:document-detail", args=[duplicate.pk])
                    if duplicate.owner_id == request.user.pk
                    else None,
                },
            )
        document = document_upload_create(
            user=request.user,
            upload=upload,
            validated=validated,
            title=serializer.validated_data.get("title", ""),
            description=serializer.validated_data.get("description", ""),
        )
        return Response(DocumentSerializer(document).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(summary="One of the user's documents"),
    delete=extend_schema(summary="Delete one of the user's documents (and remove it from the index)"),
)
class DocumentDetailView(ChatAPIMixin, generics.RetrieveDestroyAPIView):
    serializer_class = DocumentSerializer
    lookup_url_kwarg = "document_id"

    def get_queryset(self) -> QuerySet[KnowledgeDocument]:
        return own_documents(self.request)

    def perform_destroy(self, instance: KnowledgeDocument) -> None:
        # Logged before the row goes (the audit entry keeps its title); the file goes with the row, after
        # the commit, so a rolled-back delete loses nothing.
        document_delete_log(instance, user=self.request.user)
        storage, name = instance.file.storage, instance.file.name
        instance.delete()
        if name:
            transaction.on_commit(lambda: storage.delete(name))


class DocumentStatusView(ChatAPIMixin, APIView):
    @extend_schema(
        summary="Processing status of one of the user's documents",
        responses={200: DocumentStatusSerializer, 404: ErrorSerializer},
    )
    def get(self, request: Request, document_id: int) -> Response:
        document = get_object_or_404(own_documents(request), pk=document_id)
        state = document_processing([document.pk])[document.pk]
        data = {
            "id": document.pk,
            "document_id": document.pk,
            "status": state.status,
            "processed": state.processed,
            "progress_done": state.metadata["progress_done"],
            "progress_total": state.metadata["progress_total"],
            "error": state.metadata["error"],
            "error_code": state.metadata["error_code"],
            "total_chunks": state.total_chunks,
            "chunk_count": state.total_chunks,
            "processed_at": state.processed_at,
            "indexed_at": state.processed_at,
            "processing_metadata": state.metadata,
            "live": document.live,
        }
        return Response(DocumentStatusSerializer(data).data)
