"""Any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, vLLM, Ollama, LM Studio, TEI, llama.cpp).

OPTIONS: BASE_URL, API_KEY, MODEL, DIMENSIONS (sent to models that can shorten their vectors, e.g.
text-embedding-3-*), BATCH_SIZE, TIMEOUT (seconds per request), MAX_RETRIES (the SDK retries connection
errors, 408/409/429 and 5xx with exponential backoff; other errors are permanent), MAX_TOKENS.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from search.errors import EmbeddingError

from .base import BaseEmbedder, Vectors

# OpenAI accepts up to 2,048 inputs per request and 300k tokens; 64 chunks of ≤512 tokens stays far below
# both and keeps one request's latency (and a retry's cost) small.
DEFAULT_BATCH_SIZE = 64


class OpenAIEmbedder(BaseEmbedder):
    option_keys = frozenset(
        {"MODEL", "DIMENSIONS", "MAX_TOKENS", "BATCH_SIZE", "SEND_DIMENSIONS", "BASE_URL", "API_KEY"}
        | {"TIMEOUT", "MAX_RETRIES"}
    )

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.model_name = str(self.options.get("MODEL", "text-embedding-3-small"))
        self.dimensions = int(self.options.get("DIMENSIONS", 1536))
        self.max_tokens = int(self.options.get("MAX_TOKENS", 8191))
        self.batch_size = int(self.options.get("BATCH_SIZE", DEFAULT_BATCH_SIZE))
        self.send_dimensions = bool(self.options.get("SEND_DIMENSIONS", "DIMENSIONS" in self.options))
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import openai

                    self._client = openai.OpenAI(
                        base_url=self.options.get("BASE_URL") or None,
                        # Local servers ignore the key, but the SDK requires one.
                        api_key=self.options.get("API_KEY") or "unused",
                        timeout=float(self.options.get("TIMEOUT", 30.0)),
                        max_retries=int(self.options.get("MAX_RETRIES", 2)),
                    )
        return self._client

    def count_tokens(self, text: str) -> int:
        # No tokenizer ships offline for these models; ~4 characters per token is OpenAI's own rule of
        # thumb for English and errs towards more tokens for code.
        return max(1, math.ceil(len(text) / 4))

    def _request(self, texts: list[str]) -> Vectors:
        import openai

        kwargs: dict[str, Any] = {"model": self.model_name, "input": texts}
        if self.send_dimensions:
            kwargs["dimensions"] = self.dimensions
        try:
            response = self.client.embeddings.create(**kwargs)
        except openai.OpenAIError as e:
            raise EmbeddingError(
                f"Embedding request to {self.options.get('BASE_URL') or 'OpenAI'} failed: {e}",
                extra={"alias": self.alias},
            ) from e
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(texts):
            raise EmbeddingError(
                f"The embeddings endpoint returned {len(data)} vectors for {len(texts)} inputs."
            )
        vectors = np.asarray([item.embedding for item in data], dtype=np.float32)
        if vectors.shape[1] != self.dimensions:
            raise EmbeddingError(
                f"The embeddings endpoint returned {vectors.shape[1]} dimensions; "
                f"KNOWLEDGE_EMBEDDERS[{self.alias!r}] expects {self.dimensions}."
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        # The API rejects empty strings; a blank passage gets a single space (its vector is meaningless
        # but keeps rows aligned).
        cleaned = [t if t.strip() else " " for t in texts]
        parts = [
            self._request(cleaned[i : i + self.batch_size]) for i in range(0, len(cleaned), self.batch_size)
        ]
        return np.concatenate(parts, axis=0)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        vector: npt.NDArray[np.float32] = self.embed_documents([text])[0]
        return vector


Embedder = OpenAIEmbedder
