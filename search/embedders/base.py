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

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        self.alias = alias
        self.params = params
        self.options: dict[str, Any] = dict(params.get("OPTIONS", {}))

    @abstractmethod
    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages in batches; rows are L2-normalised float32."""

    @abstractmethod
    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """Embed one question (some models use a different prefix or pooling for queries)."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens the model would read for `text` (word-pieces for MiniLM), including special tokens."""
