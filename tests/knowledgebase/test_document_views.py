"""Uploaded files: stored privately under random names, served only through the checked views as
downloads the browser never renders, private uploads to their owner only (issue 17)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.test import override_settings
from wagtail.models import ModelLogEntry

from knowledgebase import audit
from knowledgebase.models import KnowledgeDocument
from tests.factories import user

pytestmark = pytest.mark.django_db

HTML = b"<html><script>alert(document.cookie)</script></html>"


def _upload(name: str, *, owner: Any = None, private: bool = False, body: bytes = HTML) -> KnowledgeDocument:
    audience = KnowledgeDocument.Audience.PRIVATE if private else KnowledgeDocument.Audience.SHARED
    document = KnowledgeDocument(title=name, owner=owner, kind="txt", audience=audience)
    document.file.save(name, ContentFile(body), save=False)
    document.save()
    return document


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_upload_is_stored_privately_under_a_random_name():
    document = _upload("quarterly-salaries.txt")
    stored = Path(document.file.path)
    assert "quarterly-salaries" not in str(document.file.name)
    assert stored.suffix == ".txt" and len(stored.stem) == 32
    assert stored.is_relative_to(Path(settings.PRIVATE_ROOT))
    assert not stored.is_relative_to(Path(settings.MEDIA_ROOT))
    assert document.filename == "quarterly-salaries.txt", "the uploader's name stays on the row"
    assert document.file.url == "", "a private file has no public URL"


def test_no_url_serves_stored_files(client):
    document = _upload("notes.txt")
    media = settings.MEDIA_URL
    for url in (f"{media}{document.file.name}", f"{media}knowledge/{document.filename}"):
        assert client.get(url).status_code == 404


def test_private_root_inside_media_root_is_refused_by_the_system_check():
    from datacollection.storage import private_root_check

    assert private_root_check() == []
    with override_settings(PRIVATE_ROOT=Path(settings.MEDIA_ROOT) / "private"):
        [error] = private_root_check()
    assert error.id == "datacollection.E001" and "MEDIA_ROOT" in error.msg


def test_download_is_an_attachment_the_browser_never_renders(client):
    document = _upload("page.html.txt")
    response = client.get(f"/knowledge/documents/{document.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="page.html.txt"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    assert response["Content-Type"] == "application/octet-stream"
    assert _body(response) == HTML


def test_private_upload_is_downloadable_by_its_owner_only(client):
    owner = user("owner")
    document = _upload("diary.txt", owner=owner, private=True)
    editor = user("editor", is_staff=True)
    editor.user_permissions.add(Permission.objects.get(codename="change_knowledgedocument"))
    root = user("root", is_superuser=True, is_staff=True)
    urls = [f"/knowledge/documents/{document.pk}/", f"/knowledge/documents/{document.pk}/download/"]

    client.force_login(owner)
    assert [client.get(url).status_code for url in urls] == [200, 200]
    for other in (editor, root, user("someone")):
        client.force_login(other)
        assert [client.get(url).status_code for url in urls] == [404, 404], other.username
    client.logout()
    assert [client.get(url).status_code for url in urls] == [404, 404]


def test_superuser_opens_a_private_upload_only_through_the_audited_action(client):
    document = _upload("diary.txt", owner=user("owner"), private=True)
    url = f"/knowledge/documents/{document.pk}/private-access/"
    editor = user("editor", is_staff=True)
    editor.user_permissions.add(Permission.objects.get(codename="change_knowledgedocument"))
    client.force_login(editor)
    assert client.get(url).status_code == 404 and client.post(url, {"reason": "curious"}).status_code == 404

    root = user("root", is_superuser=True, is_staff=True)
    client.force_login(root)
    assert client.get(url).status_code == 200
    assert client.post(url, {"reason": "  "}).status_code == 400
    assert not ModelLogEntry.objects.filter(action=audit.DOCUMENT_DOWNLOAD).exists()
    response = client.post(url, {"reason": "legal hold request 42"})
    assert response.status_code == 200 and _body(response) == HTML
    assert response["X-Content-Type-Options"] == "nosniff"
    entry = ModelLogEntry.objects.get(action=audit.DOCUMENT_DOWNLOAD)
    assert entry.user == root and entry.data["reason"] == "legal hold request 42"
    assert entry.data["private_access"] is True


def test_files_stored_under_their_uploaders_name_move_to_private_storage():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("knowledgebase.migrations.0005_private_uploads")
    legacy = Path(settings.MEDIA_ROOT) / "knowledge" / "old plans.txt"
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_bytes(b"Old plans.")
    document = _upload("placeholder.txt")
    KnowledgeDocument.objects.filter(pk=document.pk).update(
        file="knowledge/old plans.txt", original_filename=""
    )
    document.refresh_from_db()
    revision = document.save_revision()
    assert revision.content["file"] == "knowledge/old plans.txt"

    migration.files_to_private(apps, None)

    document.refresh_from_db()
    revision.refresh_from_db()
    assert not legacy.exists()
    assert "old plans" not in str(document.file.name) and document.filename == "old plans.txt"
    assert Path(document.file.path).read_bytes() == b"Old plans."
    assert revision.content["file"] == document.file.name
    migration.files_to_private(apps, None)  # a second run changes nothing
    assert KnowledgeDocument.objects.get(pk=document.pk).file.name == document.file.name


def test_admin_hides_other_users_private_uploads_from_editors(client):
    from tests.chatbot.test_feedback_data import editor

    private = _upload("diary-of-ana.txt", owner=user("ana"), private=True)
    shared = _upload("shared-handbook.txt")
    base = "/admin/snippets/knowledgebase/knowledgedocument/"
    account = editor()
    account.user_permissions.add(Permission.objects.get(codename="change_knowledgedocument"))
    client.force_login(account)
    listing = client.get(base).content.decode()
    assert "shared-handbook.txt" in listing and "diary-of-ana.txt" not in listing
    assert client.get(f"{base}edit/{shared.pk}/").status_code == 200
    for url in (f"{base}edit/{private.pk}/", f"{base}preview/{private.pk}/", f"{base}history/{private.pk}/"):
        refused = client.get(url)
        assert refused.status_code == 404 and b"diary-of-ana" not in refused.content, url
    assert client.get(f"/admin/knowledge/document/{private.pk}/chunks/").status_code == 404
    assert client.get(f"/admin/knowledge/document/{shared.pk}/chunks/").status_code == 200

    root = user("root", is_superuser=True, is_staff=True)
    client.force_login(root)
    assert "diary-of-ana.txt" in client.get(base).content.decode(), "listed, so a superuser can delete it"
    assert client.get(f"{base}edit/{private.pk}/").status_code == 404
    assert client.get(f"{base}delete/{private.pk}/").status_code == 200
