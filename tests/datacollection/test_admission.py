"""The admission gate (datacollection.admission.RequestGate): at most `limit` requests inside the
application at once, a slot taken once the body has arrived and given back when the response starts, a
request that waited too long answered 503 with Retry-After."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

from datacollection.admission import RequestGate


class App:
    """An ASGI app that counts the requests inside it: each reads its body, works `work` seconds, starts
    its response, then streams for `stream` seconds."""

    def __init__(self, *, work: float = 0.2, stream: float = 0.0) -> None:
        self.work, self.stream = work, stream
        self.inside = self.peak = 0
        self.started: list[str] = []
        self.start_times: list[float] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            if not message.get("more_body"):
                break
        self.inside += 1
        self.peak = max(self.peak, self.inside)
        await asyncio.sleep(self.work)
        self.inside -= 1
        self.started.append(scope["path"])
        self.start_times.append(asyncio.get_running_loop().time())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(self.stream)
        await send({"type": "http.response.body", "body": b"ok"})


async def request(
    gate: RequestGate, path: str = "/api/x/", *, chunks: tuple[bytes, ...] = (b"{}",), pause: float = 0.0
) -> list[dict[str, Any]]:
    """One request; `pause` seconds between its body chunks (a slow upload)."""
    queue = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if queue:
            if len(queue) < len(chunks):
                await asyncio.sleep(pause)
            return queue.pop(0)
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    await gate({"type": "http", "method": "POST", "path": path, "headers": []}, receive, send)
    return sent


def gated(app: App, *, limit: int, timeout: float = 30.0) -> RequestGate:
    return RequestGate(app, limit=lambda: limit, timeout=lambda: timeout, exempt=("/healthz",))


def test_at_most_limit_requests_are_inside_at_once_and_the_others_wait_their_turn() -> None:
    app = App()

    async def main() -> list[list[dict[str, Any]]]:
        gate = gated(app, limit=2)
        return list(await asyncio.gather(*(request(gate) for _ in range(6))))

    responses = asyncio.run(main())
    assert [r[0]["status"] for r in responses] == [200] * 6
    assert app.peak == 2


def test_a_request_that_waits_past_the_timeout_gets_503_with_retry_after() -> None:
    app = App(work=1.0)

    async def main() -> list[list[dict[str, Any]]]:
        gate = gated(app, limit=1, timeout=0.2)
        first = asyncio.ensure_future(request(gate))
        await asyncio.sleep(0.05)
        return [await request(gate, "/api/x/"), await request(gate, "/"), await first]

    api, page, first = asyncio.run(main())
    assert first[0]["status"] == 200
    for refused, content_type in ((api, b"application/json"), (page, b"text/plain; charset=utf-8")):
        headers = dict(refused[0]["headers"])
        assert refused[0]["status"] == 503
        assert headers[b"retry-after"] == b"2" and headers[b"content-type"] == content_type
    assert json.loads(api[1]["body"])["error"]["code"] == "busy"
    assert app.started == ["/api/x/"], "the refused requests never reached the application"


def test_the_slot_is_given_back_when_the_response_starts_not_when_a_stream_ends() -> None:
    app = App(work=0.05, stream=1.0)

    async def main() -> float:
        gate = gated(app, limit=1, timeout=0.5)
        first = asyncio.ensure_future(request(gate))
        await asyncio.sleep(0.2)  # the first is streaming now
        loop = asyncio.get_running_loop()
        started = loop.time()
        second = await request(gate)
        assert second[0]["status"] == 200
        await first
        return app.start_times[1] - started

    assert asyncio.run(main()) < 0.5  # the first stream still had 0.8 s to go


def test_a_slow_upload_does_not_hold_a_slot_while_its_body_arrives() -> None:
    app = App(work=0.05)

    async def main() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        gate = gated(app, limit=1, timeout=0.3)
        upload = asyncio.ensure_future(request(gate, chunks=(b"a", b"b", b"c"), pause=0.5))
        await asyncio.sleep(0.1)
        quick = await request(gate)  # would wait 1 s behind the upload, past its 0.3 s
        return quick, await upload

    quick, upload = asyncio.run(main())
    assert quick[0]["status"] == 200 and upload[0]["status"] == 200
    assert app.started == ["/api/x/", "/api/x/"]


def test_limit_zero_turns_the_gate_off() -> None:
    app = App(work=0.1)

    async def main() -> None:
        gate = gated(app, limit=0)
        await asyncio.gather(*(request(gate) for _ in range(5)))

    asyncio.run(main())
    assert app.peak == 5


def test_the_health_probe_is_never_queued() -> None:
    app = App(work=1.0)

    async def main() -> list[dict[str, Any]]:
        gate = gated(app, limit=1, timeout=0.2)
        busy = asyncio.ensure_future(request(gate))
        await asyncio.sleep(0.05)
        probe = await request(gate, "/healthz")
        await busy
        return probe

    assert asyncio.run(main())[0]["status"] == 200
