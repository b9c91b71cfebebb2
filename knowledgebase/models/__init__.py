from .documents import KnowledgeDocument
from .indexing import DocumentVersion, ImportRun, IndexedSource, IndexingJob
from .pages import HomePage, KnowledgeIndexPage, KnowledgePage

__all__ = [
    "DocumentVersion",
    "HomePage",
    "ImportRun",
    "IndexedSource",
    "IndexingJob",
    "KnowledgeDocument",
    "KnowledgeIndexPage",
    "KnowledgePage",
]
