"""The answer service through the OpenAI-compatible provider, against a real llama.cpp server (SmolLM2).

A 135M model's wording is not asserted; what the service does around it is: the follow-up is condensed by
the model (or the heuristic when the rewrite is unusable), tokens stream, every citation in the saved
answer names a source that was emitted, and the usage the server reports is recorded."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from chatbot.models import Message
from chatbot.rag.cache import index_version_bump
from tests.chatbot.test_services import SEARCH, _body, _session, ask
from tests.factories import user
from tests.knowledgebase.conftest import clean_index, home, make_page, section, wait_for_jobs  # noqa: F401
from tests.llm_server import LlamaServer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker", "clean_index"),
]


def test_generated_answer_through_the_openai_compatible_server(
    llm_server: LlamaServer,
    make_page: Any,  # noqa: F811
) -> None:
    index_version_bump()
    page = make_page("Search setup", _body(SEARCH))
    wait_for_jobs("page", page.pk)
    owner = user("llm-asker")
    backends = {
        "default": {
            "BACKEND": "chatbot.llm.openai",
            "BASE_URL": llm_server.base_url,
            "MODEL": llm_server.model,
            "TIMEOUT": 60.0,
            "MAX_RETRIES": 0,
            "CONTEXT_TOKENS": llm_server.n_ctx,
        }
    }
    rag = {**settings.CHATBOT_RAG, "ANSWER_TOKENS": 48, "CONTEXT_TOKENS": 600, "CONDENSE_TIMEOUT": 60.0}
    session = _session(
        owner,
        ("user", "How do I configure Quokkasearch as the search backend?"),
        ("assistant", "Set QUOKKA_URL to point at your cluster [1]."),
    )
    with override_settings(CHATBOT_LLM_BACKENDS=backends, CHATBOT_RAG=rag):
        events = ask(session, owner, "Which server version does it need?")

    assert events[-1].type == "complete", events[-1]
    complete = events[-1].data
    assert [e.type for e in events].count("token") > 1
    emitted = {s["number"] for s in complete["sources"]}
    assert {int(n) for n in re.findall(r"\[(\d+)\]", complete["content"])} <= emitted
    assert all(s["source_id"] == page.pk for s in complete["sources"])
    message = Message.objects.get(uuid=complete["message_id"])
    assert message.model == llm_server.model and message.status == Message.Status.COMPLETE
    assert message.tokens_used > 0 and message.first_token_time is not None
