"""Knowledge audit log actions appear in Wagtail's site history with the user and the time."""

from __future__ import annotations

from typing import Any

import pytest
from wagtail.log_actions import registry
from wagtail.models import ModelLogEntry, PageLogEntry

from knowledgebase import audit
from tests.chatbot.test_feedback_data import document, page, section
from tests.factories import user

pytestmark = pytest.mark.django_db


def test_the_actions_are_registered_with_labels() -> None:
    for action in (
        audit.DOCUMENT_UPLOAD,
        audit.DOCUMENT_DOWNLOAD,
        audit.DOCUMENT_DELETE,
        audit.DOCUMENT_APPROVE,
        audit.SOURCE_REINDEX,
    ):
        assert registry.action_exists(action)
    assert registry.get_action_label(audit.DOCUMENT_DOWNLOAD) == "Knowledge: download"


def test_downloading_a_document_is_logged_and_shown_in_site_history(client: Any) -> None:
    admin = user("root", is_superuser=True, is_staff=True)
    handbook = document("Handbook")
    client.force_login(admin)
    response = client.get(f"/knowledge/documents/{handbook.pk}/download/")
    assert response.status_code == 200
    entry = ModelLogEntry.objects.get(action=audit.DOCUMENT_DOWNLOAD)
    assert entry.user == admin and entry.object_id == str(handbook.pk) and entry.timestamp is not None
    assert entry.label == "Handbook" and entry.data["detail"] == handbook.filename

    audit.document_upload_log(handbook, user=admin)
    audit.document_approve_log(handbook, user=admin, comment="checked")
    audit.document_delete_log(handbook, user=None)
    history = client.get("/admin/reports/site-history/").content.decode()
    for label in ("Knowledge: download", "Knowledge: upload", "Knowledge: approve", "Knowledge: delete"):
        assert label in history
    assert "Approved for the knowledge base: checked" in history
    filtered = client.get(
        "/admin/reports/site-history/", {"action": audit.DOCUMENT_DOWNLOAD}
    ).content.decode()
    assert f"Downloaded: {handbook.filename}" in filtered and "Uploaded: " not in filtered


def test_manual_reindex_of_a_page_is_logged(client: Any) -> None:
    admin = user("root", is_superuser=True, is_staff=True)
    target = page(section(), "Install")
    client.force_login(admin)
    response = client.post(f"/admin/knowledge/page/{target.pk}/reindex/")
    assert response.status_code == 302
    entry = PageLogEntry.objects.get(action=audit.SOURCE_REINDEX)
    assert entry.page_id == target.pk and entry.user == admin
    history = client.get(f"/admin/pages/{target.pk}/history/").content.decode()
    assert "Re-indexing requested: manual reindex" in history


def test_anonymous_downloads_are_logged_without_a_user() -> None:
    handbook = document("Handbook")
    from django.contrib.auth.models import AnonymousUser

    entry = audit.document_download_log(handbook, user=AnonymousUser())
    assert entry.user is None and entry.action == audit.DOCUMENT_DOWNLOAD
