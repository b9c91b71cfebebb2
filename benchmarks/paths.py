"""Where the benchmarks find the shared material that is not in the repository: the real-document
corpus and the evaluation sets. One setting, ``SHARED_DIR``, by default ``../shared`` next to the clone:

    <SHARED_DIR>/corpus/pdf-samples, corpus/wagtail-docs, ...
    <SHARED_DIR>/eval/wagtail-docs/questions.jsonl, eval/dbpedia-entity, ...
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    configured = os.environ.get("SHARED_DIR", "").strip()
    return Path(configured).expanduser() if configured else ROOT.parent / "shared"


def corpus(*parts: str) -> Path:
    """``<SHARED_DIR>/corpus/<parts>``."""
    return shared_dir().joinpath("corpus", *parts)


def eval_dir(*parts: str) -> Path:
    """``<SHARED_DIR>/eval/<parts>``."""
    return shared_dir().joinpath("eval", *parts)
