"""Knowledge index in the Django database: the embedded default when no Elasticsearch is configured.

Rows live in `search.models.IndexedChunk` under a concrete index name; `IndexAlias` points the configured
name (`params["INDEX"]`) at it, so a rebuild writes new rows and switches the pointer in one transaction.

- Full text: PostgreSQL ranks a stored, GIN-indexed `tsvector` (title A, headings B, body C) with
  `ts_rank`; SQLite uses an FTS5 table kept in sync by triggers (created on first use) ranked by `bm25()`.
  Either way the query is reduced to its word tokens OR-ed together, so user punctuation is never syntax.
- Vectors: exact cosine in numpy. The index's float32 matrix is cached per process and reloaded when the
  alias row's `version` (bumped by every write, in any process) changes; the visibility/scope filter is SQL
  that selects which rows of the matrix are scored.

The package: `rows` (chunk ⇄ row, the visibility WHERE compiled from search.visibility), `fulltext` with
`postgres` and `sqlite` (one full-text implementation per vendor), `vectors` (exact cosine, the matrix
cache) and `backend` (the class).

Params: `DATABASE` (Django connection alias, default "default"). OPTIONS: `text_search_config`
(PostgreSQL, default "english"), `batch_size` (default 500).
"""

from .backend import DatabaseSearchBackend
from .fulltext import query_terms
from .rows import chunk_row, row_chunk, visibility_q
from .sqlite import fts5_match, fts5_terms

__all__ = [
    "DatabaseSearchBackend",
    "SearchBackend",
    "chunk_row",
    "fts5_match",
    "fts5_terms",
    "query_terms",
    "row_chunk",
    "visibility_q",
]

SearchBackend = DatabaseSearchBackend
