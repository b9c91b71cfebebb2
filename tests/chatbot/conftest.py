from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.llm_server import LlamaServer


@pytest.fixture(scope="session")
def llm_server() -> Iterator[LlamaServer]:
    """A real llama.cpp OpenAI-compatible server with SmolLM2, shared by the session."""
    server = LlamaServer()
    server.start()
    yield server
    server.stop()
