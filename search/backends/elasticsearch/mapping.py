"""The Elasticsearch index's mapping and the chunk ⇄ document conversion."""

from __future__ import annotations

from typing import Any

from search.analysis import TextAnalyzer
from search.values import Chunk

# Title and headings say what a passage is about in a few words; a match there counts more.
TEXT_FIELDS = ["title^3", "headings^2", "body"]
# The same fields analysed in the application (stemmed, stop words removed); see `text_language`.
STEMMED = {"title": "title_stemmed", "headings": "headings_stemmed", "body": "body_stemmed"}
STEMMED_TEXT_FIELDS = ["title_stemmed^3", "headings_stemmed^2", "body_stemmed"]
SOURCE_EXCLUDES = ["vector", *STEMMED.values()]

KEYWORD_FIELDS = (
    "source_type",
    "source_id",
    "source_key",
    "visibility",
    "group_ids",
    "owner_id",
    "language",
    "content_hash",
    "chunk_id",
    "source_path",
    "url",
    "anchor",
)


def index_mapping(
    *,
    dimensions: int,
    vector_index_type: str,
    analyzer: TextAnalyzer | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """The strict mapping; its `_meta` records the text analysis and the embedder identity (`model`) the
    index was built with, which later writes and queries are checked against."""
    properties: dict[str, Any] = {name: {"type": "keyword"} for name in KEYWORD_FIELDS}
    if analyzer is not None:
        # Already analysed text: the standard analyzer only splits it at the spaces.
        properties.update({field: {"type": "text", "analyzer": "standard"} for field in STEMMED.values()})
    properties.update(
        {
            "title": {"type": "text", "analyzer": "standard"},
            "headings": {"type": "text", "analyzer": "standard"},
            "body": {"type": "text", "analyzer": "standard"},
            # Returned with the chunk, never searched: the LLM's wider context around the passage.
            "context": {"type": "text", "index": False},
            "heading_path": {"type": "keyword", "index": False, "doc_values": False},
            "page_number": {"type": "integer"},
            "revision": {"type": "long"},
            "position": {"type": "integer"},
            "vector": {
                "type": "dense_vector",
                "dims": dimensions,
                "index": True,
                "similarity": "cosine",
                "index_options": {"type": vector_index_type},
            },
        }
    )
    # strict: a misspelt field fails the write instead of silently growing the mapping.
    mapping: dict[str, Any] = {"dynamic": "strict", "properties": properties}
    meta = {"text_analysis": analyzer.name if analyzer else None, "embedder": model}
    if meta := {key: value for key, value in meta.items() if value}:
        mapping["_meta"] = meta
    return mapping


def chunk_document(chunk: Chunk, *, analyzer: TextAnalyzer | None = None) -> dict[str, Any]:
    doc = chunk.as_dict()
    doc["body"] = doc.pop("text")
    doc["headings"] = chunk.section
    doc["source_key"] = chunk.source_key
    if analyzer is not None:
        for field, stemmed in STEMMED.items():
            doc[stemmed] = analyzer.analyze(doc[field] or "")
    return doc


def document_chunk(source: dict[str, Any]) -> Chunk:
    return Chunk.from_dict({**source, "text": source.get("body", "")})
