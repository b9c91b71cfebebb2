"""Embedding cache: (model, sha256(text)) → float32 vector.

In Redis (through Django's cache, values are the raw float32 bytes) when REDIS_URL configures one, so
every worker shares it; otherwise a bounded in-process LRU. A cache hit never runs the model.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from django.core.cache import caches

from .base import BaseEmbedder, Vectors

logger = logging.getLogger(__name__)

# Query vectors are the hot path; a year of distinct questions on a busy site is a few 100k entries of
# 1.5 kB each (384 float32), so a week's TTL keeps Redis small while repeated questions stay hits.
DEFAULT_TIMEOUT = 7 * 24 * 3600
DEFAULT_LRU_SIZE = 4096


class VectorStore(Protocol):
    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]: ...

    def set_many(self, items: dict[str, bytes]) -> None: ...


class LRUStore:
    def __init__(self, max_size: int = DEFAULT_LRU_SIZE) -> None:
        self.max_size = max_size
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        found = {}
        with self._lock:
            for key in keys:
                if key in self._data:
                    self._data.move_to_end(key)
                    found[key] = self._data[key]
        return found

    def set_many(self, items: dict[str, bytes]) -> None:
        with self._lock:
            for key, value in items.items():
                self._data[key] = value
                self._data.move_to_end(key)
            while len(self._data) > self.max_size:
                self._data.popitem(last=False)


class DjangoCacheStore:
    """A Django cache alias (Redis in production). Failures degrade to a miss: a cache outage must not
    stop retrieval."""

    def __init__(self, alias: str = "default", timeout: int = DEFAULT_TIMEOUT) -> None:
        self.alias = alias
        self.timeout = timeout

    @property
    def cache(self) -> Any:

        return caches[self.alias]

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        try:
            return dict(self.cache.get_many(list(keys)))
        except Exception as e:  # noqa: BLE001 - any cache client error is a miss
            logger.warning("embedding cache read failed: %s", e)
            return {}

    def set_many(self, items: dict[str, bytes]) -> None:
        try:
            self.cache.set_many(items, timeout=self.timeout)
        except Exception as e:  # noqa: BLE001
            logger.warning("embedding cache write failed: %s", e)


def cache_key(model: str, kind: str, text: str) -> str:
    return f"emb:{model}:{kind}:{hashlib.sha256(text.encode('utf-8')).hexdigest()}"


class CachedEmbedder(BaseEmbedder):
    """Wraps an embedder; same contract. `kind` separates query and passage vectors (models may embed
    them differently)."""

    def __init__(self, inner: BaseEmbedder, store: VectorStore) -> None:
        super().__init__(inner.alias, inner.params)
        self.inner = inner
        self.store = store
        self.model_name = inner.model_name
        self.dimensions = inner.dimensions
        self.max_tokens = inner.max_tokens

    @property
    def identity(self) -> str:
        return self.inner.identity

    def _embed(self, texts: Sequence[str], kind: str) -> Vectors:
        keys = [cache_key(f"{self.model_name}:{self.dimensions}", kind, t) for t in texts]
        found = self.store.get_many(list(dict.fromkeys(keys)))
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        missing: dict[str, int] = {}
        for row, key in enumerate(keys):
            raw = found.get(key)
            if raw is not None and len(raw) == 4 * self.dimensions:
                out[row] = np.frombuffer(raw, dtype=np.float32)
            elif key not in missing:
                missing[key] = row
        if missing:
            rows = list(missing.values())
            if kind == "query":
                vectors = np.stack([self.inner.embed_query(texts[r]) for r in rows]).astype(np.float32)
            else:
                vectors = self.inner.embed_documents([texts[r] for r in rows])
            fresh = dict(zip(missing, vectors, strict=True))
            for row, key in enumerate(keys):
                if key in fresh:
                    out[row] = fresh[key]
            self.store.set_many({key: vector.astype(np.float32).tobytes() for key, vector in fresh.items()})
        return out

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts, "passage")

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        vector: npt.NDArray[np.float32] = self._embed([text], "query")[0]
        return vector

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def split_windows(self, text: str, *, max_tokens: int | None = None, overlap: int = 0) -> list[str]:
        return self.inner.split_windows(text, max_tokens=max_tokens, overlap=overlap)
