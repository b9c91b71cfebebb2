"""Settings of chunking and the publish → index pipeline."""

from pathlib import Path

from celery.schedules import crontab

from .env import env_int, env_str

# Passages fit the embedder's window (MiniLM: 256 word-pieces) with their "title › headings" prefix, so
# every indexed token is embedded; the LLM gets the surrounding section up to CONTEXT_TOKENS.
KNOWLEDGE_CHUNKING = {
    "PASSAGE_TOKENS": env_int("KNOWLEDGE_PASSAGE_TOKENS", 200),
    "OVERLAP_TOKENS": env_int("KNOWLEDGE_OVERLAP_TOKENS", 40),
    "CONTEXT_TOKENS": env_int("KNOWLEDGE_CONTEXT_TOKENS", 1000),
    # Passages one source may have in the index; the rest is left out and the status panel says from
    # where. 5,000 passages of 200 word-pieces hold ~750,000 words (a 2,000-page book at ~2.5 passages a
    # page); past that, one upload would hold the worker for its embedding for a long time.
    "MAX_PASSAGES": env_int("KNOWLEDGE_MAX_PASSAGES", 5000),
}

# Indexing retries transient failures (search engine or Redis down) with exponential backoff capped well
# below the broker's visibility timeout, so a waiting retry is never redelivered as a duplicate.
KNOWLEDGE_INDEXING_MAX_RETRIES = env_int("KNOWLEDGE_INDEXING_MAX_RETRIES", 8)
KNOWLEDGE_INDEXING_RETRY_BACKOFF_MAX = env_int("KNOWLEDGE_INDEXING_RETRY_BACKOFF_MAX", 300)
# Jobs still queued after this many seconds are sent again by `requeue_stale_jobs` (broker was down).
KNOWLEDGE_STALE_JOB_SECONDS = env_int("KNOWLEDGE_STALE_JOB_SECONDS", 300)

# The demo knowledge `make run` imports in the background: this product's own guide (docs/). Any other
# Markdown tree works, e.g. DEMO_DOCS_DIR=../shared/corpus/wagtail-docs (relative to the working folder).
DEMO_DOCS_DIR = Path(env_str("DEMO_DOCS_DIR", str(Path(__file__).resolve().parents[2] / "docs")))

# Whole request bodies above this are refused by the ASGI server wrapper while they arrive: the largest
# upload plus room for the multipart envelope and form fields.
REQUEST_BODY_MAX_BYTES = env_int(
    "REQUEST_BODY_MAX_BYTES", env_int("KNOWLEDGE_UPLOAD_MAX_BYTES", 25 * 1024 * 1024) + 1024 * 1024
)

# Celery beat (the `beat` service in compose.yaml): this area's entries; base.py merges every area's.
# The index audit (knowledgebase/index_audit.py) once a day, repairs queued: KNOWLEDGE_INDEX_AUDIT_HOUR.
KNOWLEDGE_INDEX_AUDIT_HOUR = env_int("KNOWLEDGE_INDEX_AUDIT_HOUR", 3)
INDEXING_BEAT_SCHEDULE = {
    "knowledge-index-audit": {
        "task": "knowledgebase.index_audit",
        "schedule": crontab(minute=30, hour=KNOWLEDGE_INDEX_AUDIT_HOUR),
        "options": {"queue": "bulk"},
    },
    "knowledge-requeue-stale-jobs": {
        "task": "knowledgebase.requeue_stale_jobs",
        "schedule": float(env_int("KNOWLEDGE_REQUEUE_INTERVAL", 60)),
    },
}
