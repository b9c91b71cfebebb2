"""Settings dicts fail loudly: a misspelt key is refused with the setting, alias and key named."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from chatbot.conf import settings_check as chatbot_settings_check
from chatbot.rag.config import RagConfig
from datacollection.conf import keys_check
from knowledgebase.conf import settings_check as knowledgebase_settings_check
from search.backends import get_search_backend
from search.conf import settings_check as search_settings_check


def test_keys_check_names_every_unknown_key() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"X has unknown key\(s\) B, C; known: A"):
        keys_check("X", {"A": 1, "B": 2, "C": 3}, known={"A"})
    keys_check("X", {"A": 1}, known={"A", "D"})


def test_the_configured_settings_pass_every_check() -> None:
    search_settings_check()
    knowledgebase_settings_check()
    chatbot_settings_check()


def test_a_misspelt_rag_key_is_refused() -> None:
    with override_settings(CHATBOT_RAG={"RETRIEVAL_K": 4}):
        assert RagConfig.from_settings().retrieval_k == 4
    misspelt = override_settings(CHATBOT_RAG={"RETREIVAL_K": 4})
    with misspelt, pytest.raises(ImproperlyConfigured, match="RETREIVAL_K"):
        chatbot_settings_check()


def test_a_misspelt_backend_key_or_option_names_the_alias(settings) -> None:
    backend = dict(settings.KNOWLEDGE_SEARCH_BACKENDS["default"])
    with override_settings(KNOWLEDGE_SEARCH_BACKENDS={"default": {**backend, "INDX": "x"}}):
        with pytest.raises(ImproperlyConfigured, match=r"KNOWLEDGE_SEARCH_BACKENDS\['default'\].*INDX"):
            search_settings_check()
    options = {**backend.get("OPTIONS", {}), "bach_size": 10}
    with override_settings(KNOWLEDGE_SEARCH_BACKENDS={"default": {**backend, "OPTIONS": options}}):
        with pytest.raises(ImproperlyConfigured, match=r"\['OPTIONS'\] has unknown key\(s\) bach_size"):
            get_search_backend()


def test_misspelt_keys_in_other_dicts_are_refused(settings) -> None:
    embedders = {"default": {**settings.KNOWLEDGE_EMBEDDERS["default"], "CACHE_SIZ": 3}}
    cases: list[tuple[dict[str, Any], Callable[[], None], str]] = [
        ({"KNOWLEDGE_EMBEDDERS": embedders}, search_settings_check, "CACHE_SIZ"),
        ({"KNOWLEDGE_EMBEDDER": "nope"}, search_settings_check, "KNOWLEDGE_EMBEDDER = 'nope'"),
        ({"KNOWLEDGE_CHUNKING": {"PASSAGE_TOKEN": 3}}, knowledgebase_settings_check, "PASSAGE_TOKEN"),
        ({"CHATBOT_EXTRACTIVE": {"MIN_SCOR": 0.1}}, chatbot_settings_check, "MIN_SCOR"),
        ({"CHATBOT_ANSWER_CACHE": {"ENABLE": False}}, chatbot_settings_check, "ENABLE"),
        (
            {"CHATBOT_LLM_BACKENDS": {"default": {"BACKEND": "chatbot.llm.extractive", "MODELL": "x"}}},
            chatbot_settings_check,
            "MODELL",
        ),
    ]
    for overrides, check, named in cases:
        with override_settings(**overrides), pytest.raises(ImproperlyConfigured, match=named):
            check()
