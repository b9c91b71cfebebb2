from .documents import KnowledgeDocument
from .indexing import DocumentVersion, IndexedSource, IndexingJob
from .pages import HomePage, KnowledgeIndexPage, KnowledgePage

__all__ = [
    "DocumentVersion",
    "HomePage",
    "IndexedSource",
    "IndexingJob",
    "KnowledgeDocument",
    "KnowledgeIndexPage",
    "KnowledgePage",
]
