"""The admin upload form: files are validated (type, magic bytes, size, active content, archive bombs)
before anything is stored, and a file identical to an existing document is reported as a duplicate."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.html import format_html
from wagtail.admin.forms import WagtailAdminModelForm

from knowledgebase.validation import validate_upload
from search.errors import KnowledgeError


class KnowledgeDocumentForm(WagtailAdminModelForm):
    def clean_file(self) -> Any:
        from knowledgebase.models import KnowledgeDocument

        upload = self.cleaned_data.get("file")
        if upload is None or not hasattr(upload, "content_type"):
            return upload  # unchanged file on edit
        try:
            validated = validate_upload(upload, filename=upload.name, size=upload.size)
        except KnowledgeError as e:
            raise forms.ValidationError(e.message, code=e.code) from e
        duplicate = (
            KnowledgeDocument.objects.filter(file_hash=validated.sha256)
            .exclude(pk=self.instance.pk or 0)
            .first()
        )
        if duplicate is not None:
            raise forms.ValidationError(
                format_html(
                    'This file has the same content as “<a href="{}">{}</a>”; it is not uploaded twice.',
                    duplicate.get_url(),
                    duplicate.title,
                ),
                code="duplicate",
            )
        self.instance.kind = validated.kind
        self.instance.file_size = validated.size
        self.instance.file_hash = validated.sha256
        upload.seek(0)
        return upload

    def save(self, commit: bool = True) -> Any:
        user = getattr(self, "for_user", None)
        if self.instance.owner_id is None and user is not None and user.is_authenticated:
            self.instance.owner = user
        return super().save(commit=commit)
