"""The contract of embedders (offline MiniLM, OpenAI-compatible), resolved from KNOWLEDGE_EMBEDDERS."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]  # shape (n, dimensions), L2-normalised rows


class BaseEmbedder(ABC):
    model_name: str
    dimensions: int
    # The most tokens of a passage the model reads; chunking keeps every passage within it.
    max_tokens: int
    # The keys of its KNOWLEDGE_EMBEDDERS entry and of OPTIONS it reads (datacollection.backends refuses
    # any other; None: OPTIONS unchecked). CACHE, CACHE_SIZE and CACHE_ALIAS are the registry's own.
    settings_keys: frozenset[str] = frozenset()
    option_keys: frozenset[str] | None = None

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        self.alias = alias
        self.params = params
        self.options: dict[str, Any] = dict(params.get("OPTIONS", {}))

    @property
    def identity(self) -> str:
        """What the vectors depend on, recorded in the index when it is created:
        "<backend path>:<model name>:<dimensions>" (e.g. "search.embedders.minilm:all-MiniLM-L6-v2-int8:384").
        An index recorded with another identity holds vectors of another model: searching it with this
        one's query vectors, or adding this one's passages to it, would mix two vector spaces."""
        backend = self.params.get("BACKEND") or type(self).__module__
        return f"{backend}:{self.model_name}:{self.dimensions}"

    @abstractmethod
    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages in batches; rows are L2-normalised float32."""

    @abstractmethod
    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """Embed one question (some models use a different prefix or pooling for queries)."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens the model would read for `text` (word-pieces for MiniLM), including special tokens."""

    # --- optional, with generic defaults (backends override with exact versions) -------------------
    def split_windows(self, text: str, *, max_tokens: int | None = None, overlap: int = 0) -> list[str]:
        """Split `text` into passages of at most `max_tokens` model tokens (default: `self.max_tokens`),
        consecutive windows sharing `overlap` tokens, so that every token of the text is embedded.

        This generic version splits on whitespace and measures each window with `count_tokens`."""
        limit = min(max_tokens or self.max_tokens, self.max_tokens)
        words = text.split()
        if not words:
            return []
        if self.count_tokens(text) <= limit:
            return [text]
        windows: list[str] = []
        start = 0
        while start < len(words):
            end = start + 1
            while end < len(words) and self.count_tokens(" ".join(words[start : end + 1])) <= limit:
                end += 1
            windows.append(" ".join(words[start:end]))
            if end >= len(words):
                break
            back = max(0, min(overlap, end - start - 1))
            start = end - back if overlap else end
        return windows
