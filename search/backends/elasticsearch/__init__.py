"""Knowledge index on Elasticsearch 8: dense_vector kNN + BM25 behind an alias.

The package: `mapping` (fields, chunk ⇄ document), `queries` (the two legs' bodies and the visibility
filter compiled from search.visibility), `bulk` (bulk actions, checked item by item: 429/503 items
retried), `index` (client, errors, alias lifecycle, writes) and `backend` (reading).

The alias (`params["INDEX"]`) points at exactly one concrete index `<alias>-<timestamp>-<random>`; a
rebuild writes a new concrete index and swaps the alias in one `update_aliases` call, so search never
goes dark. Both legs put the visibility/scope filter inside the engine query (for kNN inside the `knn`
clause, i.e. pre-filtering), so a filtered-out chunk never takes a slot of the top k.

OPTIONS (all optional):
- `vector_index_type`: "int8_hnsw" (default; 4x smaller graph) or "hnsw" (float32), for benchmarks.
- `num_candidates`: kNN candidates per shard; default max(100, 4 * k), capped at 10,000 (the engine's limit).
- `rescore_oversample`: the kNN leg re-scores its top k × this many candidates with the stored float32
  vectors (`rescore_vector`, Elasticsearch ≥ 8.18), so its order and scores are exact cosine rather than
  int8 approximations that shift with segment merges; default 2.0, 0 turns it off. Measured on
  dbpedia-entity: int8 alone 0.5192 nDCG@10, rescored 0.5196 = exact numpy search
  (search/RETRIEVAL-HISTORY.md).
- `multi_match_type`: "cross_fields" (default) or "best_fields" / "most_fields". Measured on the 40 judged
  dbpedia-entity queries (benchmarks/search_backends.py): nDCG@10 cross_fields 0.347, most_fields 0.313,
  best_fields 0.305: a question's words spread over title and body, which cross_fields scores as one field.
- `text_language`: the Snowball language of the stemmed text fields (default "english"; "none" turns
  stemming off). The core distribution has no stemmers, so title, headings and body are also stored
  analysed by `search.analysis` (`*_stemmed` fields) and BM25 matches the query, analysed the same way,
  against those. The analysis is recorded in the mapping's `_meta`; an index built with another one (or
  none) is still searched, on its plain fields, until `manage.py reindex --all --rebuild` rebuilds it.
- `batch_size`: chunks per bulk request (default 500, see BULK_BATCH_SIZE).
- `refresh`: make writes visible to the next search (default True: the product and tests read their
  writes; one refresh per call, not per batch, so bulk indexing stays fast).
- `max_retries`: client retries on connection errors, each on the next configured node (default: the
  number of URLS, at least 1). Sniffing is off: only the URLS are used.
- `number_of_replicas`: replicas of the index's one shard (default 0 for a single node; 1 on a cluster,
  so one node can die without losing data or reads; ELASTICSEARCH_REPLICAS in the settings).
"""

from .backend import ElasticsearchSearchBackend
from .mapping import chunk_document, document_chunk, index_mapping
from .queries import query_filters, visibility_filter

__all__ = [
    "ElasticsearchSearchBackend",
    "SearchBackend",
    "chunk_document",
    "document_chunk",
    "index_mapping",
    "query_filters",
    "visibility_filter",
]

SearchBackend = ElasticsearchSearchBackend
