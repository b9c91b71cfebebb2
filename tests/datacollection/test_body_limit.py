"""Oversized bodies are refused while they arrive, before Django reads them."""

import asyncio

from datacollection.body_limit import RequestBodyLimit


def _run(headers, chunks, limit=100):
    reached_app, sent, pulled = [], [], []

    async def app(scope, receive, send):
        reached_app.append(True)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    queue = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]

    async def receive():
        pulled.append(True)
        return queue.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/chatbot/documents/", "headers": headers}
    asyncio.run(RequestBodyLimit(app, max_bytes=lambda: limit)(scope, receive, send))
    return reached_app, sent, pulled


def test_declared_length_over_the_limit_is_refused_without_reading_the_body():
    reached_app, sent, pulled = _run([(b"content-length", b"5000")], [b"x" * 5000])
    assert not reached_app and not pulled
    assert sent[0]["status"] == 413
    assert b"too_large" in sent[1]["body"]


def test_undeclared_length_is_counted_and_cut_at_the_limit():
    reached_app, sent, pulled = _run([], [b"x" * 60, b"x" * 60, b"x" * 60])
    assert reached_app
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [413]
    assert len(pulled) == 2, "stopped reading at the chunk that crossed the limit"


def test_bodies_within_the_limit_pass():
    reached_app, sent, _ = _run([(b"content-length", b"50")], [b"x" * 50])
    assert reached_app and sent[0]["status"] == 200
