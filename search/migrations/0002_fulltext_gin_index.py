"""A GIN index on IndexedChunk.search_vector, on PostgreSQL only (SQLite uses an FTS5 table instead,
created by the backend on first use). Written by hand: model Meta cannot hold a vendor-specific index."""

from django.db import migrations

INDEX = "search_chunk_fts_gin"


def create_gin_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON search_indexedchunk USING gin (search_vector)"
        )


def drop_gin_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("search", "0001_initial")]

    operations = [migrations.RunPython(create_gin_index, drop_gin_index, elidable=False)]
