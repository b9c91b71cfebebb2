"""The user's own documents over REST: upload (validated while and after receiving), status through the
real publish → index pipeline, duplicates, ownership and the upload rate."""

from __future__ import annotations

import errno
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from knowledgebase.models import IndexingJob, KnowledgeDocument
from search.values import Visibility
from tests.chatbot.api_helpers import api_client, fresh_rate_limits, token_user
from tests.fixtures.documents import bicycle_shed_docx, greenhouse_docx

API = "/api/chatbot"


@pytest.fixture
def docx_file(tmp_path: Path) -> Path:
    return greenhouse_docx(tmp_path / "greenhouse.docx")


@pytest.fixture
def other_docx_file(tmp_path: Path) -> Path:
    return bicycle_shed_docx(tmp_path / "bicycle-shed.docx")


@pytest.fixture(autouse=True)
def _fresh_limits() -> Iterator[None]:
    with fresh_rate_limits():
        yield


def upload(
    client: Any, path: Path | None = None, *, name: str | None = None, data: bytes | None = None
) -> Any:
    content = data if data is not None else path.read_bytes()  # type: ignore[union-attr]
    filename = name or path.name  # type: ignore[union-attr]
    file = SimpleUploadedFile(filename, content, content_type="application/octet-stream")
    return client.post(f"{API}/documents/", {"file": file, "title": "My notes"}, format="multipart")


@pytest.mark.django_db(transaction=True)
def test_uploaded_docx_is_published_privately_and_indexed_by_the_worker(celery_worker, docx_file):
    from search.backends import get_search_backend
    from search.values import Principal

    get_search_backend().drop()  # the worker writes to the configured index; start it empty
    account, token = token_user("writer")
    client = api_client(token)
    response = upload(client, docx_file)
    assert response.status_code == 201, response.json()
    created = response.json()
    document = KnowledgeDocument.objects.get(pk=created["id"])
    assert (document.owner, document.audience, document.kind) == (account, "private", "docx")
    assert document.live and created["title"] == "My notes"

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status = client.get(f"{API}/documents/{document.pk}/status/").json()
        if status["status"] in {IndexingJob.Status.INDEXED, IndexingJob.Status.FAILED}:
            break
        time.sleep(0.3)
    assert status["status"] == IndexingJob.Status.INDEXED, status
    assert status["chunk_count"] >= 1 and status["error"] == ""
    assert status["progress_done"] == status["progress_total"]

    hits = get_search_backend().search_text("orchids", principal=Principal.from_user(account), k=5)
    assert {h.chunk.source_key for h in hits} == {f"document:{document.pk}"}
    assert hits[0].chunk.visibility == Visibility.OWNER
    assert not get_search_backend().search_text("orchids", principal=Principal.anonymous(), k=5)


@pytest.mark.django_db
def test_oversized_upload_is_413_while_receiving():
    _, token = token_user("big")
    with override_settings(KNOWLEDGE_UPLOAD_MAX_BYTES=25 * 1024 * 1024):
        response = upload(api_client(token), name="big.pdf", data=b"%PDF-1.7\n" + b"0" * (26 * 1024 * 1024))
    assert response.status_code == 413
    body = response.json()["error"]
    assert body["code"] == "too_large"
    assert "25 MB" in body["message"] or "25.0 MB" in body["message"]
    assert body["max_bytes"] == 25 * 1024 * 1024
    assert not KnowledgeDocument.objects.exists()


@pytest.mark.django_db
def test_wrong_type_and_bad_requests_are_400_with_a_reason():
    _, token = token_user("typist")
    client = api_client(token)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
    renamed = upload(client, name="scan.pdf", data=png)
    assert renamed.status_code == 400
    assert renamed.json()["error"]["code"] == "unsupported_type"
    assert "PDF" in renamed.json()["error"]["message"]

    image = upload(client, name="scan.png", data=png)
    assert image.status_code == 400 and ".png" in image.json()["error"]["message"]

    missing = client.post(f"{API}/documents/", {"title": "nothing"}, format="multipart")
    assert missing.status_code == 400 and "file" in missing.json()["error"]["fields"]
    assert not KnowledgeDocument.objects.exists()


@pytest.mark.django_db
def test_duplicate_content_is_409_with_a_link_to_the_existing_document(docx_file):
    _, token = token_user("twice")
    client = api_client(token)
    first = upload(client, docx_file).json()
    again = upload(client, docx_file, name="copy.docx")
    assert again.status_code == 409
    body = again.json()["error"]
    assert body["code"] == "duplicate"
    assert body["document_id"] == first["id"]
    assert body["api_url"] == f"{API}/documents/{first['id']}/"
    assert KnowledgeDocument.objects.count() == 1


@pytest.mark.django_db
def test_documents_of_another_user_are_404_and_not_listed(docx_file, other_docx_file):
    _, alice_token = token_user("alice")
    _, bob_token = token_user("bob")
    alice, bob = api_client(alice_token), api_client(bob_token)
    mine = upload(alice, docx_file).json()["id"]
    assert upload(bob, other_docx_file).status_code == 201

    listed = alice.get(f"{API}/documents/").json()
    assert [d["id"] for d in listed["results"]] == [mine]
    for path in (f"{API}/documents/{mine}/", f"{API}/documents/{mine}/status/"):
        assert bob.get(path).status_code == 404
        assert alice.get(path).status_code == 200
    assert bob.delete(f"{API}/documents/{mine}/").status_code == 404
    assert alice.delete(f"{API}/documents/{mine}/").status_code == 204
    assert not KnowledgeDocument.objects.filter(pk=mine).exists()
    # Bob's identical copy of a private file of Alice's would not be reported as a duplicate either.


@pytest.mark.django_db
def test_the_51st_upload_in_a_day_is_429():
    _, token = token_user("prolific")
    client = api_client(token)
    with override_settings(CHATBOT_RATE_UPLOADS="2/d"):
        assert upload(client, name="a.txt", data=b"First note about lemurs.").status_code == 201
        assert upload(client, name="b.txt", data=b"Second note about lemurs.").status_code == 201
        refused = upload(client, name="c.txt", data=b"Third note about lemurs.")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 60
    assert refused.json()["error"]["code"] == "rate_limited"


@pytest.mark.django_db
def test_an_upload_is_stored_under_a_random_name_and_keeps_the_uploaders_in_the_api(docx_file):
    _, token = token_user("namer")
    response = upload(api_client(token), docx_file, name="Salaries 2026 (final).docx")
    assert response.status_code == 201, response.content
    assert response.json()["filename"] == "Salaries 2026 (final).docx"
    stored = str(KnowledgeDocument.objects.get(pk=response.json()["id"]).file.name)
    assert "Salaries" not in stored and stored.startswith("knowledge/") and stored.endswith(".docx")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [(errno.ENOSPC, 507, "storage_full"), (errno.EAGAIN, 503, "storage_unavailable")],
)
def test_a_server_that_cannot_check_the_upload_answers_507_or_503_and_keeps_nothing(
    docx_file, monkeypatch, failure, status, code
):
    """The structural check copies an in-memory upload to a temporary file and starts a child: a full
    disk (ENOSPC) or no process to be had (EAGAIN) is the server's fault, said as such, never a 500."""
    import subprocess

    _, token = token_user("checked")
    client = api_client(token)
    if failure == errno.ENOSPC:

        def no_room(*args: Any, **kwargs: Any) -> Any:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr("knowledgebase.validation.tempfile.NamedTemporaryFile", no_room)
    else:

        def no_process(*args: Any, **kwargs: Any) -> Any:
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

        monkeypatch.setattr(subprocess, "Popen", no_process)
    response = upload(client, docx_file)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert "Nothing was saved" in response.json()["error"]["message"]
    assert not KnowledgeDocument.objects.exists()
