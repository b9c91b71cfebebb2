"""The answer prompt asks the model to answer in the language of the question (cross-language answers)."""

from __future__ import annotations

from chatbot.rag.prompts import answer_messages


def test_system_prompt_asks_for_the_language_of_the_question() -> None:
    messages = answer_messages("Wie viele Dateien darf ich pro Tag hochladen?", [])
    assert messages[0].role == "system"
    assert "answer in the language of the question" in messages[0].content
    assert "Wie viele Dateien" in messages[-1].content
