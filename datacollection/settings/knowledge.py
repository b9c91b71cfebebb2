"""Settings of the knowledge pipeline (extraction, chunking, uploads, indexing)."""
