"""The public shape of a `complete` event: `quoted` says whether a model wrote the answer."""

from __future__ import annotations

import pytest

from chatbot.api.shapes import event_data
from chatbot.events import StreamEvent


@pytest.mark.parametrize(
    ("model", "quoted"), [("extractive", True), ("SmolLM2-135M-Instruct", False), ("", False)]
)
def test_complete_says_whether_the_answer_is_quoted(model: str, quoted: bool) -> None:
    event = StreamEvent(
        type="complete",
        data={"message_id": "m", "content": "A [1].", "sources": [], "status": "complete", "tokens_used": 3,
              "response_time": 0.1, "model": model, "declined": False},
    )  # fmt: skip
    data = event_data(event)
    assert data["quoted"] is quoted
    assert data["model"] == model and data["tokens"] == 3  # the existing fields stay


def test_other_events_carry_no_quoted_flag() -> None:
    assert "quoted" not in event_data(StreamEvent(type="token", data={"content": "A", "message_id": "m"}))
