"""Start-up check of the chatbot's settings (ChatbotConfig.ready()): the LLM aliases with their keys,
CHATBOT_RAG, CHATBOT_EXTRACTIVE and CHATBOT_ANSWER_CACHE. Nothing is created: providers stay lazy."""

from __future__ import annotations

from chatbot.llm import llms_check
from chatbot.llm.extractive import extractive_settings
from chatbot.rag.cache import answer_cache_settings
from chatbot.rag.config import RagConfig


def settings_check() -> None:
    """Raise ImproperlyConfigured naming the setting, alias and key that is wrong."""
    llms_check()
    RagConfig.from_settings()
    extractive_settings()
    answer_cache_settings()
