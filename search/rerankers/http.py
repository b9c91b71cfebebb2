"""Re-ranking over HTTP: Cohere, Jina, Hugging Face TEI, vLLM and LocalAI all expose `POST /rerank`.

Request: {"query": ..., "documents": [...], "model": ...?, "top_n": n}. The response is either
{"results": [{"index": i, "relevance_score": s}, ...]} (Cohere/Jina/vLLM) or a bare list
[{"index": i, "score": s}, ...] (TEI; TEI calls the documents "texts", sent too).

OPTIONS: URL (the full endpoint), API_KEY, MODEL, TIMEOUT, MAX_RETRIES.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx
from django.core.exceptions import ImproperlyConfigured

from .base import BaseReranker, RerankError

_TRANSIENT = {408, 429, 500, 502, 503, 504}


class HttpReranker(BaseReranker):
    option_keys = frozenset({"URL", "TIMEOUT", "MAX_RETRIES", "API_KEY", "MODEL", "TOP_N"})

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.url = self.options.get("URL", "")
        if not self.url:
            raise ImproperlyConfigured(f"KNOWLEDGE_RERANKERS[{alias!r}] (http) needs OPTIONS['URL'].")
        self.timeout = float(self.options.get("TIMEOUT", 5.0))
        self.max_retries = int(self.options.get("MAX_RETRIES", 1))
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            headers = {"Content-Type": "application/json"}
            if self.options.get("API_KEY"):
                headers["Authorization"] = f"Bearer {self.options['API_KEY']}"
            self._client = httpx.Client(timeout=self.timeout, headers=headers)
        return self._client

    def _post(self, payload: dict[str, Any]) -> Any:
        for attempt in range(self.max_retries + 1):
            try:
                response = self.client.post(self.url, json=payload)
            except httpx.HTTPError as e:
                if attempt < self.max_retries:
                    time.sleep(0.2 * 2**attempt)
                    continue
                raise RerankError(f"Re-ranker at {self.url} unreachable: {e}") from e
            if response.status_code in _TRANSIENT and attempt < self.max_retries:
                time.sleep(0.2 * 2**attempt)
                continue
            if response.status_code >= 400:
                raise RerankError(
                    f"Re-ranker at {self.url} answered {response.status_code}: {response.text[:200]}"
                )
            try:
                return response.json()
            except ValueError as e:
                raise RerankError(f"Re-ranker at {self.url} returned invalid JSON.") from e
        raise RerankError(f"Re-ranker at {self.url} failed.")  # pragma: no cover - loop always returns

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        if not documents:
            return []
        payload: dict[str, Any] = {
            "query": query,
            "documents": list(documents),
            "texts": list(documents),
            "top_n": len(documents),
        }
        if self.options.get("MODEL"):
            payload["model"] = self.options["MODEL"]
        body = self._post(payload)
        results = body.get("results", body.get("data")) if isinstance(body, dict) else body
        if not isinstance(results, list):
            raise RerankError(f"Re-ranker at {self.url} returned an unexpected body.")
        scores = [float("-inf")] * len(documents)
        for item in results:
            try:
                index = int(item["index"])
                value = item.get("relevance_score", item.get("score"))
                scores[index] = float(value)
            except (KeyError, TypeError, ValueError, IndexError) as e:
                raise RerankError(f"Re-ranker at {self.url} returned a malformed result: {item!r}") from e
        return scores


Reranker = HttpReranker
