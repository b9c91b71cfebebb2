"""Where the shared real-document corpus is, for the tests that run over it.

The corpus (sample PDFs and DOCX files from pypdf and python-docx, the Wagtail docs) is not part of
this repository: it sits next to the clone, in ``../shared/corpus``, or wherever
``KNOWLEDGE_TEST_CORPUS`` points. Tests that need it call ``require_corpus()``: without the corpus
they are skipped with the reason, and with ``KNOWLEDGE_TEST_CORPUS_REQUIRED=1`` (set by ``.ci/run``)
a missing corpus fails them instead, so CI cannot pass by skipping. Every other test builds its own
files (tests/fixtures/).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus"


def corpus_dir() -> Path:
    """The configured corpus folder, whether or not it exists."""
    configured = os.environ.get("KNOWLEDGE_TEST_CORPUS", "").strip()
    return Path(configured).expanduser().resolve() if configured else DEFAULT_CORPUS.resolve()


def corpus_available() -> bool:
    return corpus_dir().is_dir()


def corpus_required() -> bool:
    return os.environ.get("KNOWLEDGE_TEST_CORPUS_REQUIRED", "").strip().lower() in {"1", "true", "yes"}


def require_corpus(*parts: str) -> Path:
    """The corpus folder (or ``parts`` under it); skips the calling test when it is missing, or fails
    it when KNOWLEDGE_TEST_CORPUS_REQUIRED=1."""
    root = corpus_dir()
    path = root.joinpath(*parts)
    if not path.exists():
        what = root if not root.is_dir() else path
        reason = f"shared corpus not found at {what}; set KNOWLEDGE_TEST_CORPUS"
        if corpus_required():
            pytest.fail(f"{reason} (KNOWLEDGE_TEST_CORPUS_REQUIRED=1)", pytrace=False)
        pytest.skip(reason)
    return path
