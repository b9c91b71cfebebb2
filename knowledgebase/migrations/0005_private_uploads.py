"""Uploaded knowledge files move from MEDIA_ROOT/knowledge/<uploader's name> (served under `make run`,
guessable URLs) to the private storage under a random name; the uploader's name stays on the row, and the
revisions' copies of the field follow, so publishing an old revision keeps pointing at the moved file."""

import uuid
from pathlib import Path, PurePath

from django.conf import settings
from django.db import migrations, models

import datacollection.storage
import knowledgebase.models.documents


def _random_name(old: str) -> str:
    suffix = PurePath(old).suffix.lower()
    return f"knowledge/{uuid.uuid4().hex}{suffix if suffix[1:].isalnum() and len(suffix) <= 9 else ''}"


def files_to_private(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Revision = apps.get_model("wagtailcore", "Revision")
    KnowledgeDocument = apps.get_model("knowledgebase", "KnowledgeDocument")
    private = datacollection.storage.private_storage()
    legacy_root = Path(settings.MEDIA_ROOT)
    content_type = ContentType.objects.filter(app_label="knowledgebase", model="knowledgedocument").first()
    for document in KnowledgeDocument.objects.exclude(file="").iterator():
        old = document.file.name
        original = document.original_filename or PurePath(old).name
        new = old
        legacy = legacy_root / old
        if not private.exists(old) and legacy.is_file():
            new = _random_name(old)
            with legacy.open("rb") as source:
                new = private.save(new, source)
            legacy.unlink()
        KnowledgeDocument.objects.filter(pk=document.pk).update(file=new, original_filename=original[:255])
        if content_type is not None and new != old:
            for revision in Revision.objects.filter(
                content_type_id=content_type.pk, object_id=str(document.pk)
            ):
                if revision.content.get("file") == old:
                    revision.content = {**revision.content, "file": new, "original_filename": original[:255]}
                    revision.save(update_fields=["content"])


class Migration(migrations.Migration):
    dependencies = [
        ("knowledgebase", "0004_import_run"),
    ]

    operations = [
        migrations.AddField(
            model_name="knowledgedocument",
            name="original_filename",
            field=models.CharField(blank=True, editable=False, max_length=255),
        ),
        migrations.AlterField(
            model_name="knowledgedocument",
            name="file",
            field=models.FileField(
                max_length=500,
                storage=datacollection.storage.private_storage,
                upload_to=knowledgebase.models.documents.document_upload_to,
            ),
        ),
        migrations.RunPython(files_to_private, migrations.RunPython.noop),
    ]
