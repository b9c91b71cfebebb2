"""The Elasticsearch search backend: the index (index.py) plus both retrieval legs, chunk fetches, count
and health."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any

from elasticsearch import BadRequestError, NotFoundError

from search.backends.base import ChunkState, ScoredChunk
from search.errors import InvalidQuery, SearchUnavailable
from search.values import Chunk, Principal

from .index import MAPPING_RECHECK_SECONDS, SCROLL_PAGE_SIZE, ElasticsearchIndex
from .mapping import SOURCE_EXCLUDES, STEMMED_TEXT_FIELDS, TEXT_FIELDS, document_chunk
from .queries import MAX_QUERY_CHARS, knn_clause, text_query


class ElasticsearchSearchBackend(ElasticsearchIndex):
    # --- reading ---------------------------------------------------------------------------------
    def _search(self, action: str, **body: Any) -> list[ScoredChunk]:
        with self._errors(action):
            try:
                response = self.client.search(
                    index=self.index_name, source_excludes=SOURCE_EXCLUDES, ignore_unavailable=True, **body
                )
            except BadRequestError as e:
                if "dimension" in str(e).lower():
                    self._dims = None
                    raise self._mismatch(f"Elasticsearch rejected the {action}: {e}") from e
                raise InvalidQuery(f"Elasticsearch could not run the {action}: {e}") from e
        return [
            ScoredChunk(chunk=document_chunk(hit["_source"]), score=float(hit["_score"]))
            for hit in response["hits"]["hits"]
        ]

    def search_text(
        self, query: str, *, principal: Principal, k: int, scope: Collection[str] | None = None
    ) -> list[ScoredChunk]:
        """BM25; an empty (or whitespace) query or an empty scope matches nothing and returns []."""
        text = query.strip()[:MAX_QUERY_CHARS]
        if not text or k <= 0 or (scope is not None and not scope):
            return []
        fields = TEXT_FIELDS
        analyzer = self._index_analyzer(max_age=MAPPING_RECHECK_SECONDS)
        if analyzer is not None and (analysed := analyzer.analyze(text)):
            # A query of stop words only ("what is this?") falls back to the plain fields.
            text, fields = analysed, STEMMED_TEXT_FIELDS
        body = text_query(
            text, fields=fields, match_type=self.multi_match_type, principal=principal, scope=scope
        )
        return self._search("text search", query=body, size=k)

    def search_vector(
        self,
        vector: Sequence[float],
        *,
        principal: Principal,
        k: int,
        scope: Collection[str] | None = None,
        model: str | None = None,
    ) -> list[ScoredChunk]:
        """kNN by cosine; score = (1 + cosine) / 2. An index not created yet holds nothing: []."""
        if k <= 0 or (scope is not None and not scope):
            return []
        dims = self._stored_dims(max_age=MAPPING_RECHECK_SECONDS)
        if dims is None:
            return []
        self._model_refresh_check(model)
        if len(vector) != dims:
            raise self._mismatch(f"The query vector has {len(vector)} dimensions but the index has {dims}")
        knn = knn_clause(
            vector,
            k=k,
            num_candidates=self.options.get("num_candidates"),
            oversample=self.rescore_oversample,
            principal=principal,
            scope=scope,
        )
        return self._search("vector search", knn=knn, size=k)

    def get_chunks(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        if not chunk_ids:
            return []
        with self._errors("fetching chunks"):
            try:
                response = self.client.mget(
                    index=self.index_name, ids=list(chunk_ids), source_excludes=SOURCE_EXCLUDES
                )
            except NotFoundError:
                return []
        found = {d["_id"]: document_chunk(d["_source"]) for d in response["docs"] if d.get("found")}
        return [found[i] for i in chunk_ids if i in found]

    def chunk_states(self) -> Iterator[ChunkState]:
        fields = ["source_type", "source_id", "chunk_id", "revision", "visibility", "group_ids", "owner_id"]
        after: list[Any] | None = None
        while True:
            with self._errors("listing chunks"):
                try:
                    response = self.client.search(
                        index=self.index_name,
                        query={"match_all": {}},
                        source_includes=fields,
                        sort=[{"chunk_id": "asc"}],
                        size=SCROLL_PAGE_SIZE,
                        search_after=after,
                    )
                except NotFoundError:
                    return
            hits = response["hits"]["hits"]
            for hit in hits:
                source = hit["_source"]
                yield ChunkState(
                    source_type=str(source["source_type"]),
                    source_id=int(source["source_id"]),
                    chunk_id=str(source["chunk_id"]),
                    revision=source.get("revision"),
                    visibility=str(source.get("visibility", "")),
                    group_ids=tuple(int(g) for g in source.get("group_ids") or ()),
                    owner_id=source.get("owner_id"),
                )
            if len(hits) < SCROLL_PAGE_SIZE:
                return
            after = hits[-1]["sort"]

    def count(self) -> int:
        with self._errors("counting"):
            try:
                return int(self.client.count(index=self.index_name)["count"])
            except NotFoundError:
                return 0

    def health(self, *, timeout: float | None = None) -> str:
        client = self.client.options(max_retries=0, request_timeout=timeout or self.timeout)
        with self._errors("checking health"):
            health = client.cluster.health()
            # GET / lives in the rest-root module, which the core-only distribution lacks.
            nodes = client.nodes.info(node_id="_local", filter_path="nodes.*.version")
        if health["status"] == "red":
            raise SearchUnavailable(f"Elasticsearch at {', '.join(self.urls)}: cluster status is red")
        version = next(iter(nodes["nodes"].values()))["version"]
        status = f"elasticsearch {version}, {health['status']}"
        if self._stemming_pending():
            status += ", BM25 unstemmed until `manage.py reindex --all --rebuild`"
        return status
