"""The Elasticsearch index behind its alias: client and error mapping, the alias lifecycle (create, rebuild
and swap, drop) and the writes (bulk, whose items bulk.py checks, and deletes). Reading is in backend.py.
Around 400 lines on purpose: lifecycle and writes share the cached mapping (dimensions, analysis, embedder)
that decides every write, so splitting them would only pass that state between modules."""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from elasticsearch import (
    ApiError,
    BadRequestError,
    ConnectionError,
    ConnectionTimeout,
    Elasticsearch,
    NotFoundError,
)

from search.analysis import TextAnalyzer, get_analyzer
from search.backends.base import BaseSearchBackend, IndexItem, batched
from search.errors import IndexMismatch, SearchError, SearchUnavailable

from .bulk import (
    BULK_RETRY_DELAYS,
    RETRYABLE_ITEM_STATUSES,
    ItemFailure,
    bulk_operations,
    item_failures,
    refusal_error,
)
from .mapping import index_mapping

logger = logging.getLogger(__name__)

# One bulk request carries ~6 KB per chunk (a 384-dim vector is ~4 KB of JSON plus ~1-2 KB of text and
# metadata), so 500 chunks make ~3 MB: inside the 5-15 MB Elasticsearch recommends per bulk request and far
# below http.max_content_length (100 MB). benchmarks/search_backends.py measured 250/500/1000 at 5,000
# chunks on 2 cores, in two runs: 435/358/347 and 656/813/636 chunks/s, i.e. no size wins beyond the noise
# of a shared machine; 500 keeps each request a few MB, 10 requests per 5,000 chunks.
BULK_BATCH_SIZE = 500
# A rebuilt index is merged down to this many segments before it is served (0: not merged). Every segment
# has its own HNSW graph and a kNN query searches each one: a bulk load leaves 20-30 segments, and merged
# to one the kNN leg's p50 fell from 64 to 43 ms and hybrid p95 from 132 to 66 ms at 20k chunks
# (`make bench BENCH=scale`, before/after_forcemerge). The merge takes ~30 s per 20k chunks on 2 cores,
# spent once in `reindex --rebuild` while the old index still serves.
REBUILD_MERGE_SEGMENTS = 1
# The rebuild waits this long for the merge, then serves the new index anyway: the engine goes on merging
# it in the background (a 1M-chunk index takes longer than that on 2 cores), and a node runs one force-merge
# at a time, so another index's merge must not hold a rebuild for hours.
REBUILD_MERGE_TIMEOUT = 600.0
# Page size when listing a source's chunks (stored_hashes): one source rarely has more.
SCROLL_PAGE_SIZE = 1000
# Searches re-read the served index's mapping (dimensions, text analysis, embedder) at most this often to
# notice a rebuild by another process; writes always re-read it.
MAPPING_RECHECK_SECONDS = 30.0


class ElasticsearchIndex(BaseSearchBackend):
    """The index lifecycle and writes of the Elasticsearch backend (abstract: backend.py adds reading)."""

    concurrent_legs = True  # the client is thread-safe; the BM25 leg overlaps query embedding + kNN
    settings_keys = frozenset({"INDEX", "URLS", "TIMEOUT"})
    option_keys = frozenset(
        {
            "vector_index_type",
            "multi_match_type",
            "rescore_oversample",
            "batch_size",
            "refresh",
            "text_language",
            "max_retries",
            "num_candidates",
            "number_of_replicas",
            "rebuild_merge_segments",
        }
    )

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.urls: list[str] = list(params.get("URLS") or ["http://127.0.0.1:9200"])
        self.timeout = float(params.get("TIMEOUT", 10.0))
        self.vector_index_type: str = self.options.get("vector_index_type", "int8_hnsw")
        self.multi_match_type: str = self.options.get("multi_match_type", "cross_fields")
        self.rescore_oversample = float(self.options.get("rescore_oversample", 2.0) or 0.0)
        if self.rescore_oversample and self.rescore_oversample < 1.0:
            raise ImproperlyConfigured(
                f"Search backend {alias!r}: rescore_oversample must be 0 (off) or at least 1.0, "
                f"not {self.rescore_oversample}."
            )
        self.batch_size = int(self.options.get("batch_size", BULK_BATCH_SIZE))
        self.number_of_replicas = int(self.options.get("number_of_replicas", 0))
        self.rebuild_merge_segments = int(self.options.get("rebuild_merge_segments", REBUILD_MERGE_SEGMENTS))
        # Each retry goes to the next live node, so by default a request may try every node once.
        self.max_retries = int(self.options.get("max_retries", max(1, len(self.urls))))
        self.refresh = bool(self.options.get("refresh", True))
        self.analyzer = get_analyzer(self.options.get("text_language", "english"))
        self._dims: int | None = None  # read from the mapping once; reset by rebuild/drop
        self._analysis: str | None = None  # the mapping's text analysis, read with the dimensions
        self._model = ""  # the mapping's embedder identity ("" when not recorded), read with them too
        self._mapping_read_at = 0.0  # time.monotonic() of that read
        self._warned_analysis = False
        self.bulk_retry_delays: tuple[float, ...] = BULK_RETRY_DELAYS

    @cached_property
    def client(self) -> Elasticsearch:
        # Only the configured nodes are used (no sniffing: the nodes' published addresses may not be
        # reachable from here). A connection error marks the node dead for a while and the request is
        # retried on the next one; timeouts are not retried (the query may still be running there).
        return Elasticsearch(
            self.urls,
            request_timeout=self.timeout,
            max_retries=self.max_retries,
            retry_on_timeout=False,
            sniff_on_start=False,
            sniff_on_node_failure=False,
            sniff_before_requests=False,
        )

    # --- errors ----------------------------------------------------------------------------------
    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        where = ", ".join(self.urls)
        try:
            yield
        except (ConnectionError, ConnectionTimeout) as e:
            raise SearchUnavailable(
                f"Elasticsearch at {where} is unreachable while {action}: {e}", extra={"urls": self.urls}
            ) from e
        except ApiError as e:
            if e.status_code >= 500 or e.status_code == 429:
                raise SearchUnavailable(
                    f"Elasticsearch at {where} failed while {action} (HTTP {e.status_code}): {e}",
                    extra={"urls": self.urls, "status": e.status_code},
                ) from e
            if isinstance(e, BadRequestError) and "dimension" in str(e).lower():
                self._dims = None
                raise self._mismatch(f"Elasticsearch rejected a vector while {action}: {e}") from e
            raise

    def _mismatch(self, detail: str) -> IndexMismatch:
        return IndexMismatch(
            f"{detail}. The index {self.index_name!r} was built for other vector dimensions: rebuild it "
            "with `manage.py reindex --all --rebuild`.",
            extra={"index": self.index_name, "dimensions": self._dims},
        )

    # --- index lifecycle -------------------------------------------------------------------------
    def _new_index_name(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        return f"{self.index_name}-{stamp}-{uuid.uuid4().hex[:6]}".lower()

    def _concrete_indices(self) -> list[str]:
        """The concrete indices behind the alias (normally one); [] when nothing was written yet."""
        with self._errors("reading the alias"):
            try:
                return sorted(self.client.indices.get_alias(name=self.index_name))
            except NotFoundError:
                return []

    def _bare_index(self) -> bool:
        """Whether a concrete index holds the alias's name (made by a write that found no alias, before
        writes required one): a rebuild replaces it and drop() deletes it."""
        with self._errors("reading the index"):
            found = self.client.indices.get(index=self.index_name, ignore_unavailable=True)
        return self.index_name in found

    def _stored_dims(self, *, max_age: float = math.inf) -> int | None:
        """The served index's vector dimensions (None: no index yet), from its mapping, which is read again
        when the cached copy is older than `max_age` seconds; its text analysis and embedder come along."""
        if self._dims is not None and time.monotonic() - self._mapping_read_at >= max_age:
            self._dims = None
        if self._dims is None:
            with self._errors("reading the mapping"):
                try:
                    mappings = self.client.indices.get_mapping(index=self.index_name)
                except NotFoundError:
                    return None
            for name, body in mappings.items():
                vector = body["mappings"].get("properties", {}).get("vector", {})
                if vector.get("type") != "dense_vector":
                    # e.g. an index Elasticsearch auto-created under the alias's name from a stray write.
                    raise self._mismatch(f"The index {name!r} has no dense_vector mapping")
                self._dims = int(vector["dims"])
                meta = body["mappings"].get("_meta", {})
                self._analysis = meta.get("text_analysis")
                self._model = str(meta.get("embedder") or "")
                self._mapping_read_at = time.monotonic()
        return self._dims

    def _stemming_pending(self, *, max_age: float = 0.0) -> bool:
        """Whether the served index was built without the configured analysis (a rebuild adds it).

        Another process may have rebuilt the index since this one cached the mapping, so while stemming
        is pending the mapping is read again when the cached copy is older than `max_age` seconds:
        always for writes (or this process would keep writing chunks without their stemmed fields),
        at most every MAPPING_RECHECK_SECONDS for searches (a stale copy only costs them stemming)."""
        if self.analyzer is None or self._stored_dims() is None:
            return False
        if self._analysis != self.analyzer.name and time.monotonic() - self._mapping_read_at >= max_age:
            self._dims = None
            self._stored_dims()
        return self._analysis != self.analyzer.name

    def _index_analyzer(self, *, max_age: float = 0.0) -> TextAnalyzer | None:
        """The configured analyzer if the served index was built with it, else None: an index built with
        another analysis (or before stemming) keeps working on its plain fields until it is rebuilt."""
        if self.analyzer is None or self._stored_dims() is None:
            return None
        if not self._stemming_pending(max_age=max_age):
            return self.analyzer
        if not self._warned_analysis:
            self._warned_analysis = True
            logger.warning(
                "The index %r was built with text analysis %r, not %r: BM25 runs on unstemmed fields "
                "until `manage.py reindex --all --rebuild` rebuilds it.",
                self.index_name,
                self._analysis,
                self.analyzer.name,
            )
        return None

    def stored_model(self) -> str | None:
        return self._model if self._stored_dims(max_age=0.0) is not None else None

    def _model_refresh_check(self, model: str | None) -> None:
        """`model_check` against the cached mapping, read again first if it records another embedder
        (another process may have rebuilt the index with the configured one since)."""
        if model is not None and self._model and self._model != model:
            self._stored_dims(max_age=0.0)
        self.model_check(self._model, model)

    def _create_index(self, name: str, *, dimensions: int, aliased: bool, model: str | None) -> None:
        with self._errors("creating the index"):
            self.client.indices.create(
                index=name,
                mappings=index_mapping(
                    dimensions=dimensions,
                    vector_index_type=self.vector_index_type,
                    analyzer=self.analyzer,
                    model=model,
                ),
                settings={"number_of_shards": 1, "number_of_replicas": self.number_of_replicas},
                aliases={self.index_name: {}} if aliased else None,
            )

    def _ensure_index(self, dimensions: int, model: str | None) -> None:
        # Read afresh: a process that wrote with a cached mapping after another one rebuilt the index
        # with another embedder of the same dimensions would mix two vector spaces without an error.
        stored = self._stored_dims(max_age=0.0)
        if stored is None:
            name = self._new_index_name()
            self._create_index(name, dimensions=dimensions, aliased=True, model=model)
            # Two workers writing the first chunk at once each create an index; the alias then points
            # at both and writes fail. The later names step back, keeping the first (names sort by time).
            indices = self._concrete_indices()
            if len(indices) > 1 and name != indices[0]:
                with self._errors("removing a duplicate index"):
                    self.client.indices.delete(index=name)
            self._dims = None
            stored = self._stored_dims()
        self.model_check(self._model, model)
        if stored != dimensions:
            raise self._mismatch(f"Vectors have {dimensions} dimensions but the index has {stored}")

    def _refresh(self, index: str) -> None:
        if self.refresh:
            with self._errors("refreshing"):
                self.client.indices.refresh(index=index)

    # --- writing ---------------------------------------------------------------------------------
    def _bulk(
        self, index: str, batch: Sequence[IndexItem], *, dimensions: int, analyzer: TextAnalyzer | None
    ) -> None:
        """Write `batch`, checking every item: those refused for load (429/503) are sent again after each
        pause of BULK_RETRY_DELAYS, then SearchUnavailable (the task retries later); any other refusal
        raises once the rest is written (see bulk.py)."""
        for item in batch:
            if item.vector is not None and len(item.vector) != dimensions:
                raise self._mismatch(
                    f"Chunk {item.chunk.chunk_id} has a {len(item.vector)}-dimensional vector, "
                    f"expected {dimensions}"
                )
        pending, refused = list(batch), []
        for delay in (*self.bulk_retry_delays, None):
            failures = self._bulk_once(index, pending, analyzer=analyzer)
            refused += [f for f in failures if not f.retryable]
            pending = [f.item for f in failures if f.retryable]
            if not pending or delay is None:
                break
            logger.warning(
                "Elasticsearch is busy (HTTP 429/503) for %d chunks; again in %s s", len(pending), delay
            )
            time.sleep(delay)
        if refused:
            self._dims = None  # another process may have rebuilt the index: read the mapping again
            raise refusal_error(
                refused, total=len(batch), index_name=self.index_name, mismatch=self._mismatch
            )
        if pending:
            raise SearchUnavailable(
                f"Elasticsearch kept refusing {len(pending)} of {len(batch)} chunks as busy (HTTP 429/503) "
                f"after {len(self.bulk_retry_delays)} retries; retry later.",
                extra={"chunk_ids": [item.chunk.chunk_id for item in pending]},
            )

    def _bulk_once(
        self, index: str, batch: Sequence[IndexItem], *, analyzer: TextAnalyzer | None
    ) -> list[ItemFailure]:
        with self._errors("indexing"):
            # require_alias: a write racing a drop() must fail, not auto-create a concrete index with a
            # dynamic mapping under the alias's name (a rebuild writes to its concrete index by name).
            response = self.client.bulk(
                index=index,
                operations=bulk_operations(batch, analyzer=analyzer),
                require_alias=index == self.index_name,
            )
        return item_failures(response.body, batch)

    def index_chunks(self, items: Sequence[IndexItem], *, dimensions: int, model: str | None = None) -> int:
        if not items:
            return 0
        self._ensure_index(dimensions, model)
        # The stemmed fields only where the mapping has them (it is strict): not in an older index.
        # _ensure_index has just read the mapping.
        analyzer = self._index_analyzer(max_age=math.inf)
        for batch in batched(items, self.batch_size):
            self._bulk(self.index_name, batch, dimensions=dimensions, analyzer=analyzer)
        self._refresh(self.index_name)
        return len(items)

    def delete_source(self, source_type: str, source_id: int, *, keep_chunk_ids: Collection[str] = ()) -> int:
        # Listed, then deleted by id in bulk: _delete_by_query lives in the reindex module, which the
        # core-only distribution lacks, and one source has few chunks.
        doomed = sorted(set(self.stored_hashes(source_type, source_id)) - set(keep_chunk_ids))
        for start in range(0, len(doomed), self.batch_size):
            operations = [
                {"delete": {"_id": chunk_id}} for chunk_id in doomed[start : start + self.batch_size]
            ]
            with self._errors("deleting a source"):
                response = self.client.bulk(index=self.index_name, operations=operations)
            failures = [i["delete"] for i in response["items"] if i["delete"].get("error")]
            if failures:
                # Refused as busy: transient, the task retries the whole (idempotent) removal.
                busy = all(f.get("status") in RETRYABLE_ITEM_STATUSES for f in failures)
                error = SearchUnavailable if busy else SearchError
                chunk_ids = [f["_id"] for f in failures]
                message = f"Elasticsearch could not delete {len(failures)} chunks: {failures[0]['error']}"
                raise error(message, extra={"chunk_ids": chunk_ids})
        if doomed:
            self._refresh(self.index_name)
        return len(doomed)

    def stored_hashes(self, source_type: str, source_id: int) -> dict[str, str]:
        source = [{"term": {"source_type": source_type}}, {"term": {"source_id": source_id}}]
        query = {"bool": {"filter": source}}
        hashes: dict[str, str] = {}
        after: list[Any] | None = None
        while True:
            with self._errors("reading content hashes"):
                try:
                    response = self.client.search(
                        index=self.index_name,
                        query=query,
                        source_includes=["chunk_id", "content_hash"],
                        sort=[{"chunk_id": "asc"}],
                        size=SCROLL_PAGE_SIZE,
                        search_after=after,
                    )
                except NotFoundError:
                    return {}
            hits = response["hits"]["hits"]
            hashes.update({h["_source"]["chunk_id"]: h["_source"].get("content_hash", "") for h in hits})
            if len(hits) < SCROLL_PAGE_SIZE:
                return hashes
            after = hits[-1]["sort"]

    def rebuild(self, items: Iterable[IndexItem], *, dimensions: int, model: str | None = None) -> int:
        new = self._new_index_name()
        self._create_index(new, dimensions=dimensions, aliased=False, model=model)
        written = 0
        try:
            for batch in batched(items, self.batch_size):
                if any(item.vector is None for item in batch):
                    raise ValueError("rebuild needs a vector for every chunk (the new index has none yet)")
                self._bulk(new, batch, dimensions=dimensions, analyzer=self.analyzer)
                written += len(batch)
            with self._errors("refreshing"):
                self.client.indices.refresh(index=new)
        except BaseException:
            with self._errors("removing the unfinished index"):
                self.client.indices.delete(index=new, ignore_unavailable=True)
            raise
        self._merge(new)
        self._switch_alias(new)
        self._dims = None  # re-read with the new index's analysis
        return written

    def _merge(self, index: str) -> None:
        """Force-merge a rebuilt index to `rebuild_merge_segments` segments, waiting at most
        REBUILD_MERGE_TIMEOUT. A merge that fails or outlasts the wait costs only speed: the index is
        complete, so it is served anyway, and the engine finishes a merge it started."""
        if self.rebuild_merge_segments <= 0:
            return
        started = time.monotonic()
        try:
            with self._errors("merging the rebuilt index"):
                self.client.options(request_timeout=REBUILD_MERGE_TIMEOUT).indices.forcemerge(
                    index=index, max_num_segments=self.rebuild_merge_segments
                )
        except (SearchError, ApiError) as e:
            logger.warning("The rebuilt index %s is served unmerged: %s", index, e)
            return
        logger.info(
            "Merged the rebuilt index %s to %d segment(s) in %.1f s",
            index,
            self.rebuild_merge_segments,
            time.monotonic() - started,
        )

    def _switch_alias(self, new: str) -> None:
        old = self._concrete_indices()
        actions: list[dict[str, Any]] = [{"remove": {"index": i, "alias": self.index_name}} for i in old]
        if self._bare_index():
            actions.append({"remove_index": {"index": self.index_name}})  # replaced in the same swap
        actions.append({"add": {"index": new, "alias": self.index_name}})
        with self._errors("switching the alias"):
            self.client.indices.update_aliases(actions=actions)
            if old:
                self.client.indices.delete(index=",".join(old), ignore_unavailable=True)

    def drop(self) -> None:
        indices = self._concrete_indices() + ([self.index_name] if self._bare_index() else [])
        if indices:
            with self._errors("dropping the index"):
                self.client.indices.delete(index=",".join(indices), ignore_unavailable=True)
        self._dims = None
