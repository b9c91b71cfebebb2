"""Settings of knowledge retrieval: embedders, re-rankers and the retrieval pipeline.

The search backends themselves (KNOWLEDGE_SEARCH_BACKENDS) are in base.py, next to ELASTICSEARCH_URL.
"""
