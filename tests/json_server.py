"""A real loopback HTTP server answering JSON POSTs, for protocol peers the tests stand up themselves
(an embeddings endpoint, a re-ranker) instead of mocking the client."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (path, JSON body, request headers) -> (HTTP status, JSON payload)
Responder = Callable[[str, Any, Any], tuple[int, Any]]


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing and answers JSON with `json_reply`."""

    def log_message(self, *args: Any) -> None:
        pass

    def json_reply(self, status: int, payload: Any) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


class LoopbackServer:
    """`handler` served on a free loopback port by a thread until `close`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, path: str = "") -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class JsonServer(LoopbackServer):
    def __init__(self, respond: Responder, *, path: str = "") -> None:
        class Handler(QuietHandler):
            def do_POST(self) -> None:  # http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self.json_reply(*respond(self.path, body, self.headers))

        super().__init__(Handler, path=path)
