"""Encryption at rest (issue 17, item 4): uploaded files and extracted text are ciphertext on disk and in
the database when KNOWLEDGE_ENCRYPTION_KEYS is set, plaintext through the application, and
`manage.py rotate_keys` moves everything to the primary key. Raw bytes are read past the application:
the storage's file on disk and the database row through cursor.execute."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from datacollection.encryption import (
    FILE_MARKER,
    TEXT_MARKER,
    EncryptionError,
    file_decrypt,
    file_encrypt,
    text_decrypt,
    text_encrypt,
)
from datacollection.storage import EncryptedPrivateStorage, local_copy
from knowledgebase.models import KnowledgeDocument
from search.models import IndexedChunk

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def private_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EncryptedPrivateStorage:
    """Knowledge files in a folder of this test's own: rotate_keys rewrites every file of the storage,
    and the test settings' PRIVATE_ROOT is shared with other test runs."""
    storage = EncryptedPrivateStorage(location=tmp_path / "private")
    monkeypatch.setattr(KnowledgeDocument._meta.get_field("file"), "storage", storage)
    return storage


OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
SECRET = "The okapi vault code is 4417 and the ledger lives in room 12."


def _upload(body: bytes) -> KnowledgeDocument:
    document = KnowledgeDocument(title="Vault", kind="txt")
    document.file.save("vault.txt", ContentFile(body), save=False)
    document.save()
    return document


def _raw_file(document: KnowledgeDocument) -> bytes:
    return Path(document.file.path).read_bytes()


def _chunk(text: str, context: str) -> IndexedChunk:
    return IndexedChunk.objects.create(
        index_name="test-encryption",
        chunk_id="c1",
        source_type="document",
        source_id=1,
        source_key="document:1",
        body=text,
        context=context,
        visibility="public",
        vector=b"",
        dimensions=0,
    )


def _raw_row(chunk: IndexedChunk) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT body, context FROM search_indexedchunk WHERE id = %s", [chunk.pk])
        body, context = cursor.fetchone()
    return body, context


def test_values_round_trip_and_plaintext_written_before_encryption_still_reads():
    with override_settings(KNOWLEDGE_ENCRYPTION_KEYS=[OLD]):
        token, blob = text_encrypt(SECRET), file_encrypt(SECRET.encode())
        assert token.startswith(TEXT_MARKER) and SECRET not in token
        assert blob.startswith(FILE_MARKER) and SECRET.encode() not in blob
        assert text_decrypt(token) == SECRET and file_decrypt(blob) == SECRET.encode()
        assert text_decrypt(SECRET) == SECRET and file_decrypt(b"plain") == b"plain"
        assert text_encrypt("") == ""
    with override_settings(KNOWLEDGE_ENCRYPTION_KEYS=[]):
        assert text_encrypt(SECRET) == SECRET, "off without keys"
        with pytest.raises(EncryptionError, match="not set"):
            text_decrypt(token)
    with override_settings(KNOWLEDGE_ENCRYPTION_KEYS=[NEW]), pytest.raises(EncryptionError, match="none of"):
        file_decrypt(blob)
    with override_settings(KNOWLEDGE_ENCRYPTION_KEYS=["not-a-key"]), pytest.raises(ImproperlyConfigured):
        text_encrypt(SECRET)


def test_uploaded_file_is_ciphertext_on_disk_and_plaintext_through_the_app(client):
    from knowledgebase.content import source_content

    with override_settings(KNOWLEDGE_ENCRYPTION_KEYS=[OLD]):
        document = _upload(SECRET.encode())
        raw = _raw_file(document)
        assert raw.startswith(FILE_MARKER) and b"4417" not in raw
        assert Fernet(OLD.encode()).decrypt(raw[len(FILE_MARKER) :]) == SECRET.encode()
        with document.file.open("rb") as opened:
            assert opened.read() == SECRET.encode()
        response = client.get(f"/knowledge/documents/{document.pk}/download/")
        assert b"".join(response.streaming_content) == SECRET.encode()
        # Extraction reads a decrypted temporary copy, removed afterwards.
        with local_copy(document.file) as path:
            assert path.read_bytes() == SECRET.encode() and path != Path(document.file.path)
        assert not path.exists()
        content = source_content(document)
        assert any("4417" in block.text for block in content.blocks)


def test_without_keys_files_are_stored_as_they_are():
    with override_settings(KNOWLEDGE_ENCRYPTION_KEYS=[]):
        document = _upload(SECRET.encode())
        assert _raw_file(document) == SECRET.encode()
        with local_copy(document.file) as path:
            assert path == Path(document.file.path)


def test_extracted_text_is_ciphertext_in_the_database_row():
    with override_settings(KNOWLEDGE_ENCRYPTION_KEYS=[OLD]):
        chunk = _chunk(SECRET, f"Vault › Codes\n\n{SECRET}")
        body, context = _raw_row(chunk)
        assert body.startswith(TEXT_MARKER) and context.startswith(TEXT_MARKER)
        assert "4417" not in body + context
        fresh = IndexedChunk.objects.get(pk=chunk.pk)
        assert (fresh.body, fresh.context) == (SECRET, f"Vault › Codes\n\n{SECRET}")
        # values_list (how the database backend's full text reads rows) decrypts too.
        assert list(IndexedChunk.objects.filter(pk=chunk.pk).values_list("body", flat=True)) == [SECRET]
    with override_settings(KNOWLEDGE_ENCRYPTION_KEYS=[]):
        assert _raw_row(chunk)[0] == body
        with pytest.raises(EncryptionError):
            IndexedChunk.objects.get(pk=chunk.pk)


def _readable_by(key: str, raw: str | bytes) -> bool:
    data = raw.encode() if isinstance(raw, str) else raw
    marker = TEXT_MARKER.encode() if isinstance(raw, str) else FILE_MARKER
    try:
        Fernet(key.encode()).decrypt(data[len(marker) :])
    except Exception:  # noqa: BLE001 - any failure means "not readable by this key"
        return False
    return True


def test_rotate_keys_moves_files_and_rows_to_the_primary_key():
    with override_settings(KNOWLEDGE_ENCRYPTION_KEYS=[]):
        plain_document = _upload(b"written before encryption was on")
        plain_chunk = _chunk("plain words", "plain context")
    with override_settings(KNOWLEDGE_ENCRYPTION_KEYS=[OLD]):
        document = _upload(SECRET.encode())
        chunk = IndexedChunk.objects.create(**{**_fields(plain_chunk), "chunk_id": "c2", "body": SECRET})
    assert _readable_by(OLD, _raw_file(document)) and _readable_by(OLD, _raw_row(chunk)[0])

    with override_settings(KNOWLEDGE_ENCRYPTION_KEYS=[NEW, OLD]):
        out = io.StringIO()
        call_command("rotate_keys", stdout=out)
    assert "re-encrypted 2 files and 4 database values" in out.getvalue()
    for raw in (_raw_file(document), _raw_file(plain_document), *_raw_row(chunk), *_raw_row(plain_chunk)):
        assert _readable_by(NEW, raw) and not _readable_by(OLD, raw), raw[:20]

    with override_settings(KNOWLEDGE_ENCRYPTION_KEYS=[NEW]):  # the old key dropped
        with document.file.open("rb") as opened:
            assert opened.read() == SECRET.encode()
        with plain_document.file.open("rb") as opened:
            assert opened.read() == b"written before encryption was on"
        assert IndexedChunk.objects.get(pk=chunk.pk).body == SECRET
        assert IndexedChunk.objects.get(pk=plain_chunk.pk).context == "plain context"


def test_rotate_keys_refuses_without_keys():
    with override_settings(KNOWLEDGE_ENCRYPTION_KEYS=[]), pytest.raises(CommandError, match="not set"):
        call_command("rotate_keys")


def test_the_private_storage_encrypts(tmp_path: Any):
    storage = EncryptedPrivateStorage(location=tmp_path)
    with override_settings(KNOWLEDGE_ENCRYPTION_KEYS=[OLD]):
        name = storage.save("reports/r.md", ContentFile(b"questions"))
        assert storage.read_raw(name).startswith(FILE_MARKER)
        with storage.open(name) as opened:
            assert opened.read() == b"questions"


def _fields(chunk: IndexedChunk) -> dict[str, Any]:
    return {
        f.name: getattr(chunk, f.name)
        for f in IndexedChunk._meta.concrete_fields
        if f.name not in {"id", "updated_at", "search_vector"}
    }


def test_the_database_search_backend_finds_encrypted_passages_by_their_words():
    """Full text reads passages through the ORM (decrypted), so BM25 and kNN work with the keys on, and
    the hits carry plaintext while the rows hold ciphertext."""
    from search.backends.database import DatabaseSearchBackend
    from tests.factories import ANONYMOUS, make_chunk, make_item, throwaway_index_name

    backend = DatabaseSearchBackend("test", {"INDEX": throwaway_index_name(), "OPTIONS": {}})
    try:
        with override_settings(KNOWLEDGE_ENCRYPTION_KEYS=[OLD]):
            backend.index_chunks(
                [
                    make_item(make_chunk(1, 0, text="Aardvarks dig burrows at night."), [1, 0, 0, 0]),
                    make_item(make_chunk(1, 1, text="Editors publish pages."), [0, 1, 0, 0]),
                ],
                dimensions=4,
            )
            [text_hit] = backend.search_text("aardvark burrows", principal=ANONYMOUS, k=3)
            [vector_hit, _] = backend.search_vector([1, 0, 0, 0], principal=ANONYMOUS, k=2)
            with connection.cursor() as cursor:
                cursor.execute("SELECT body FROM search_indexedchunk WHERE chunk_id = %s", ["page:1:0"])
                raw = {row[0] for row in cursor.fetchall()}
        assert text_hit.chunk.text == vector_hit.chunk.text == "Aardvarks dig burrows at night."
        assert text_hit.chunk.context.startswith("Wider context")
        assert raw and all(body.startswith(TEXT_MARKER) and "Aardvark" not in body for body in raw)
    finally:
        backend.drop()


def test_an_encrypted_stored_file_can_be_reopened_after_closing():
    with override_settings(KNOWLEDGE_ENCRYPTION_KEYS=[OLD]):
        document = _upload(SECRET.encode())
        document = KnowledgeDocument.objects.get(pk=document.pk)
        for _ in range(2):  # FieldFile.open reopens the file it already has
            with document.file.open("rb") as opened:
                assert opened.read() == SECRET.encode()


def test_improvement_reports_are_encrypted_and_downloaded_in_plaintext(client, tmp_path: Path):
    from chatbot.tasks import feedback_report_write_task
    from tests.chatbot.test_feedback_data import answer, chat_log_reader, days_ago
    from tests.factories import user

    answer(user("ana"), question="Where does the okapi keeper live?", declined=True, at=days_ago(1))
    with override_settings(KNOWLEDGE_ENCRYPTION_KEYS=[OLD], PRIVATE_ROOT=tmp_path):
        paths = [Path(p) for p in feedback_report_write_task(days=30)]
        assert paths and all(p.read_bytes().startswith(FILE_MARKER) for p in paths)
        assert not any(b"okapi keeper" in p.read_bytes() for p in paths)
        client.force_login(chat_log_reader())
        markdown = next(p for p in paths if p.suffix == ".md")
        response = client.get(f"/admin/reports/improvement/{markdown.name}")
        assert "okapi keeper" in b"".join(response.streaming_content).decode()
