"""Tables of the database search backend (`search.backends.database`), used when no Elasticsearch is set."""

from __future__ import annotations

from django.contrib.postgres.search import SearchVectorField
from django.db import models

from datacollection.encryption import EncryptedTextField


class IndexAlias(models.Model):
    """The pointer from an index name (what callers use) to the rows currently searched.

    A rebuild writes rows under a new `target` and switches this row in one transaction. `version` grows
    with every write, so each process knows when its cached vector matrix is stale.
    """

    name = models.CharField(max_length=200, unique=True)
    target = models.CharField(max_length=250)
    dimensions = models.PositiveIntegerField()
    # The embedder identity of the vectors (search.embedders.BaseEmbedder.identity), recorded when the
    # index is created or rebuilt; "" for an index created before it was recorded.
    model = models.CharField(max_length=300, blank=True, default="")
    version = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} → {self.target}"


class IndexedChunk(models.Model):
    """One chunk of knowledge with its vector, under a concrete index name (`IndexAlias.target`)."""

    index_name = models.CharField(max_length=250)
    chunk_id = models.CharField(max_length=255)
    source_type = models.CharField(max_length=32)
    source_id = models.BigIntegerField()
    source_key = models.CharField(max_length=64)
    title = models.TextField(blank=True)
    heading_path = models.JSONField(default=list, blank=True)
    headings = models.TextField(blank=True)  # heading_path joined, for full text
    # The extracted text: encrypted at rest when KNOWLEDGE_ENCRYPTION_KEYS is set. Full text reads it
    # through the ORM (decrypted) to build its own index, which like Elasticsearch's holds the words.
    body = EncryptedTextField(blank=True)  # Chunk.text
    context = EncryptedTextField(blank=True)
    anchor = models.CharField(max_length=255, blank=True)
    page_number = models.IntegerField(null=True, blank=True)
    url = models.TextField(blank=True)
    language = models.CharField(max_length=16, blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    revision = models.BigIntegerField(null=True, blank=True)
    visibility = models.CharField(max_length=16)
    group_ids = models.JSONField(default=list, blank=True)
    # "|3|7|": group membership as text, so the visibility filter is a portable LIKE in SQL (JSON
    # containment lookups do not exist on SQLite).
    group_keys = models.TextField(blank=True)
    owner_id = models.BigIntegerField(null=True, blank=True)
    position = models.IntegerField(default=0)
    source_path = models.TextField(blank=True)
    vector = models.BinaryField()  # float32, little-endian
    dimensions = models.PositiveIntegerField()
    # PostgreSQL only (weighted title A / headings B / body C), GIN-indexed by migration 0002. SQLite
    # keeps its full text in an FTS5 table instead and leaves this NULL.
    search_vector = SearchVectorField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["index_name", "chunk_id"], name="search_chunk_unique_per_index")
        ]
        indexes = [
            models.Index(fields=["index_name", "source_type", "source_id"], name="search_chunk_source"),
            models.Index(fields=["index_name", "visibility"], name="search_chunk_visibility"),
        ]

    def __str__(self) -> str:
        return f"{self.index_name}/{self.chunk_id}"
