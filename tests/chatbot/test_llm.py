"""The LLM layer against real providers: a llama.cpp OpenAI-compatible server, llama.cpp in-process, and
the extractive answerer on sections of the Wagtail docs (tests/fixtures/wagtail-docs). Nothing is mocked."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from contextlib import aclosing
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from chatbot.llm import (
    BaseLLM,
    ChatMessage,
    GenerationChunk,
    LLMBadRequest,
    LLMError,
    LLMUnavailable,
    get_llm,
)
from chatbot.llm.extractive import (
    AnswerSentence,
    ExtractiveLLM,
    SourcePassage,
    extractive_answer,
    extractive_stream,
)
from chatbot.llm.sentences import markdown_sentences, split_sentences, terms
from tests.llm_server import LlamaServer

DOCS = Path(__file__).resolve().parent.parent / "fixtures" / "wagtail-docs"
QUESTION = [
    ChatMessage(role="system", content="You are a helpful assistant. Answer briefly."),
    ChatMessage(role="user", content="Write a few sentences about the sea."),
]


def collect(llm: BaseLLM, messages: Sequence[ChatMessage], **kwargs: object) -> list[GenerationChunk]:
    async def run() -> list[GenerationChunk]:
        return [chunk async for chunk in llm.stream(messages, **kwargs)]  # type: ignore[arg-type]

    return asyncio.run(run())


def text_of(chunks: Sequence[GenerationChunk]) -> str:
    return "".join(c.text for c in chunks)


@pytest.fixture
def server_llm(llm_server: LlamaServer) -> BaseLLM:
    return get_llm(
        BACKEND="chatbot.llm.openai",
        BASE_URL=llm_server.base_url,
        MODEL=llm_server.model,
        TIMEOUT=60.0,
        MAX_RETRIES=0,
    )


@pytest.fixture(scope="module")
def local_llm() -> BaseLLM:
    return get_llm(BACKEND="chatbot.llm.llamacpp", MODEL_PATH="", THREADS=1, CONTEXT_TOKENS=2048)


# --- registry -------------------------------------------------------------------------------------


def test_default_backend_is_the_offline_extractive_one() -> None:
    llm = get_llm()
    assert isinstance(llm, ExtractiveLLM)
    assert llm.supports_generation is False
    with pytest.raises(LLMBadRequest) as raised:
        collect(llm, QUESTION, max_tokens=8, temperature=0.0)
    assert raised.value.code == "llm_generation_unsupported"


def test_unknown_alias_and_bad_path_name_the_alias() -> None:
    with pytest.raises(ImproperlyConfigured, match="'nope'"):
        get_llm("nope")
    with override_settings(CHATBOT_LLM_BACKENDS={"broken": {"BACKEND": "chatbot.llm.missing"}}):
        with pytest.raises(ImproperlyConfigured, match=r"\['broken'\].*chatbot\.llm\.missing"):
            get_llm("broken")


def test_openai_backend_requires_a_model_name() -> None:
    with pytest.raises(ImproperlyConfigured, match="MODEL"):
        get_llm(BACKEND="chatbot.llm.openai", MODEL="")


# --- OpenAI-compatible provider against a real llama.cpp server -----------------------------------


def test_server_streams_several_chunks_then_a_final_one(server_llm: BaseLLM) -> None:
    chunks = collect(server_llm, QUESTION, max_tokens=24, temperature=0.0)
    texts = [c for c in chunks if c.text]
    assert len(texts) >= 2
    assert all(c.finish_reason is None for c in chunks[:-1])
    final = chunks[-1]
    assert final.finish_reason in {"stop", "length"}
    assert text_of(chunks).strip()
    if final.usage is not None:  # llama.cpp's server may ignore stream_options
        assert final.usage.prompt_tokens > 10
        assert 0 < final.usage.completion_tokens <= 24


def test_server_respects_max_tokens(server_llm: BaseLLM) -> None:
    chunks = collect(server_llm, QUESTION, max_tokens=4, temperature=0.0)
    assert chunks[-1].finish_reason == "length"
    assert 1 <= len([c for c in chunks if c.text]) <= 4


def test_server_stops_at_a_stop_sequence(server_llm: BaseLLM) -> None:
    # Greedy decoding is deterministic: generate freely, then stop at a word from the middle of it.
    free = text_of(collect(server_llm, QUESTION, max_tokens=30, temperature=0.0))
    words = re.findall(r"[A-Za-z]{4,}", free)
    assert len(words) >= 3, free
    stop = words[2]
    expected = free[: free.index(stop)]
    chunks = collect(server_llm, QUESTION, max_tokens=30, temperature=0.0, stop=[stop])
    assert chunks[-1].finish_reason == "stop"
    assert stop not in text_of(chunks)
    assert text_of(chunks).strip() == expected.strip()


def test_complete_returns_the_whole_answer(server_llm: BaseLLM) -> None:
    answer = asyncio.run(server_llm.complete(QUESTION, max_tokens=12))
    assert isinstance(answer, str) and answer


def test_breaking_out_closes_the_stream_and_the_server_stays_usable(server_llm: BaseLLM) -> None:
    async def run() -> tuple[int, float]:
        received = 0
        async with aclosing(server_llm.stream(QUESTION, max_tokens=400, temperature=0.8)) as chunks:
            async for chunk in chunks:
                received += bool(chunk.text)
                if received == 3:
                    started = time.monotonic()
                    break
        return received, time.monotonic() - started

    received, closing = asyncio.run(run())
    assert received == 3
    assert closing < 2.0
    start = time.monotonic()
    after = collect(server_llm, QUESTION, max_tokens=4, temperature=0.0)
    assert text_of(after)
    # Had the server kept generating the 400 abandoned tokens, this request would have queued behind them.
    assert time.monotonic() - start < 15


def test_cancelling_the_consumer_task_returns_promptly(server_llm: BaseLLM) -> None:
    async def run() -> float:
        first = asyncio.Event()

        async def consume() -> None:
            async for chunk in server_llm.stream(QUESTION, max_tokens=400, temperature=0.8):
                if chunk.text:
                    first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), timeout=60)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    assert asyncio.run(run()) < 2.0
    assert text_of(collect(server_llm, QUESTION, max_tokens=4, temperature=0.0))


TOO_LONG = [ChatMessage(role="user", content="wagtail " * 3000)]  # over the 2,048-token context


def test_a_stream_the_server_abandons_is_an_error(server_llm: BaseLLM) -> None:
    # llama.cpp's server answers a streamed over-long prompt with 200 and an empty body: without a
    # finish_reason the answer is incomplete, and the caller must not present it as one.
    with pytest.raises(LLMError) as raised:
        collect(server_llm, TOO_LONG, max_tokens=8, temperature=0.0)
    assert raised.value.code == "llm_stream_incomplete"


def test_dead_endpoint_is_unavailable_quickly() -> None:
    llm = get_llm(
        BACKEND="chatbot.llm.openai",
        BASE_URL="http://127.0.0.1:1/v1",
        MODEL="any",
        TIMEOUT=2.0,
        MAX_RETRIES=1,
    )
    start = time.monotonic()
    with pytest.raises(LLMUnavailable) as raised:
        collect(llm, QUESTION, max_tokens=8, temperature=0.0)
    assert time.monotonic() - start < 6
    assert raised.value.code == "llm_unavailable"


# --- llama.cpp in-process ---------------------------------------------------------------------------


def test_local_model_streams_without_blocking_the_loop(local_llm: BaseLLM) -> None:
    async def run() -> tuple[list[GenerationChunk], float]:
        gaps: list[float] = []
        done = False

        async def ticker() -> None:
            last = time.monotonic()
            while not done:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        chunks = [c async for c in local_llm.stream(QUESTION, max_tokens=8, temperature=0.0)]
        done = True
        await tick
        return chunks, max(gaps)

    chunks, worst_gap = asyncio.run(run())
    assert len([c for c in chunks if c.text]) >= 2
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 8
    assert chunks[-1].usage.prompt_tokens > 10
    # Model loading and generation happen in a worker thread: the loop kept ticking.
    assert worst_gap < 0.5


def test_local_model_stops_when_the_consumer_leaves(local_llm: BaseLLM) -> None:
    async def first_chunks() -> int:
        received = 0
        async with aclosing(local_llm.stream(QUESTION, max_tokens=300, temperature=0.8)) as chunks:
            async for chunk in chunks:
                received += bool(chunk.text)
                if received == 2:
                    break
        return received

    assert asyncio.run(first_chunks()) == 2
    # The abandoned generation released the model's lock at its next token: a new one runs at once.
    start = time.monotonic()
    assert text_of(collect(local_llm, QUESTION, max_tokens=3, temperature=0.0))
    assert time.monotonic() - start < 15


def test_local_model_rejects_a_prompt_longer_than_its_context(local_llm: BaseLLM) -> None:
    with pytest.raises(LLMBadRequest):
        collect(local_llm, TOO_LONG, max_tokens=8, temperature=0.0)


def test_local_model_counts_tokens_with_its_vocabulary(local_llm: BaseLLM) -> None:
    assert 1 <= local_llm.count_tokens("Hello world") <= 4
    assert local_llm.count_tokens("Wagtail " * 50) >= 50


# --- extractive answers ---------------------------------------------------------------------------


def test_sentences_keep_identifiers_file_names_and_abbreviations() -> None:
    assert split_sentences(
        "Call `BaseSiteSetting.for_request()` in a view, e.g. in `views.py`. See README.md for more. Done!"
    ) == [
        "Call `BaseSiteSetting.for_request()` in a view, e.g. in `views.py`.",
        "See README.md for more.",
        "Done!",
    ]
    sentences = markdown_sentences(
        "# Title\n\nSome [linked text](https://x.org) here.\n\n```python\nx = 1. Not prose.\n```\n"
        "```{note}\nA note worth quoting.\n```\n- first item\n- second item\n"
    )
    assert sentences == ["Some linked text here.", "A note worth quoting.", "first item", "second item"]
    assert {"for_request", "request", "site", "set"} <= terms("SiteSetting.for_request()")


def _sections(relative: str) -> list[tuple[str, str]]:
    """(heading, text) of each section of a docs excerpt."""
    found: list[tuple[str, str]] = []
    heading, fenced = "", False
    lines: list[str] = []
    for line in (DOCS / relative).read_text(encoding="utf-8").splitlines():
        fenced ^= line.lstrip().startswith("```")
        if not fenced and line.startswith("#"):
            if "".join(lines).strip():
                found.append((heading, "\n".join(lines)))
            heading, lines = line.lstrip("# ").strip(), []
        else:
            lines.append(line)
    if "".join(lines).strip():
        found.append((heading, "\n".join(lines)))
    return found


def _passages(*picks: tuple[str, str]) -> list[SourcePassage]:
    passages: list[SourcePassage] = []
    for relative, heading in picks:
        text = dict(_sections(relative))[heading]
        passages.append(SourcePassage(number=len(passages) + 1, title=heading, text=text))
    return passages


@pytest.fixture(scope="module")
def settings_passages() -> list[SourcePassage]:
    return _passages(
        ("settings.md", "Generic settings"),
        ("settings.md", "Site-specific settings"),
        ("settings.md", "Utilizing `select_related` to improve efficiency"),
        ("settings.md", "Appearance"),
    )


@pytest.mark.parametrize(
    ("question", "expected", "source"),
    [
        ("How do I get a site-specific setting inside a Django view?", "for_request", 2),
        ("How can I add an icon to the settings menu?", "icon", 4),
        ("How do I make settings with foreign keys to pages more efficient?", "select_related", 3),
    ],
)
def test_extractive_answer_picks_the_supporting_sentence(
    settings_passages: list[SourcePassage], question: str, expected: str, source: int
) -> None:
    answer = extractive_answer(question, settings_passages, use_embedder=False)
    assert answer, question
    assert answer[0].source_number == source
    assert any(expected in s.text for s in answer), answer
    assert len(answer) <= 4
    assert all(isinstance(s, AnswerSentence) and s.score > 0 for s in answer)


def test_extractive_answer_declines_what_the_passages_do_not_cover(
    settings_passages: list[SourcePassage],
) -> None:
    assert extractive_answer("How much does Divio charge per month for hosting?", settings_passages) == []
    assert extractive_answer("What is the boiling point of mercury?", settings_passages) == []
    assert extractive_answer("the and of", settings_passages) == []
    assert extractive_answer("How do I read a setting in a view?", []) == []


def test_extractive_answer_is_fast(settings_passages: list[SourcePassage]) -> None:
    passages = settings_passages * 2  # 8 passages
    timings = []
    for _ in range(20):
        start = time.perf_counter()
        extractive_answer("How do I get a site-specific setting in a view?", passages, use_embedder=False)
        timings.append(time.perf_counter() - start)
    assert sorted(timings)[18] < 0.05


def test_extractive_stream_flows_like_model_tokens(settings_passages: list[SourcePassage]) -> None:
    question = "How do I get a site-specific setting inside a Django view?"
    expected = extractive_answer(question, settings_passages, max_sentences=2)

    async def run() -> list[GenerationChunk]:
        stream = extractive_stream(question, settings_passages, max_sentences=2)
        return [chunk async for chunk in stream]

    chunks = asyncio.run(run())
    assert len(chunks) > 2 * len(expected)
    assert chunks[-1].finish_reason == "stop"
    text = text_of(chunks)
    # An answer unit: a sentence, its citation, then the code block it introduces, fenced.
    units = [f"{s.text} [{s.source_number}]" + (f"\n\n{s.code}\n\n" if s.code else " ") for s in expected]
    assert text == "".join(units).strip(" ")

    async def declined() -> list[GenerationChunk]:
        return [
            c async for c in extractive_stream("What is the boiling point of mercury?", settings_passages)
        ]

    nothing = asyncio.run(declined())
    assert [c.text for c in nothing] == [""]
    assert nothing[-1].finish_reason == "stop"


def test_extractive_answer_scores_support_with_the_knowledge_embedder(
    settings_passages: list[SourcePassage],
) -> None:
    question = "How do I get a site-specific setting inside a Django view?"
    with override_settings(CHATBOT_EXTRACTIVE={"MIN_SCORE": 0.25, "EMBEDDER": "default"}):
        answer = extractive_answer(question, settings_passages)  # MiniLM, resolved at call time
    lexical = extractive_answer(question, settings_passages, use_embedder=False)
    assert answer and answer[0].source_number == 2
    assert any("for_request" in s.text for s in answer)
    assert answer[0].score != lexical[0].score  # the similarity entered the score
    # A misconfigured embedder costs only the semantic part, never the answer.
    with override_settings(CHATBOT_EXTRACTIVE={"MIN_SCORE": 0.25, "EMBEDDER": "no-such-embedder"}):
        fallback = extractive_answer(question, settings_passages)
    assert fallback == lexical


def test_the_embedder_answers_a_question_worded_unlike_its_answer() -> None:
    """'Stop a page from appearing' shares too few words with 'exclude pages … by returning an empty list'
    for lexical support alone; the question's similarity to that sentence carries it. Off-topic questions
    are still declined with the embedder on."""
    passages = _passages(
        ("sitemaps.md", "URLs"),
        ("sitemaps.md", "Basic configuration"),
        ("sitemaps.md", "Setting the hostname"),
    )
    question = "How do I stop a particular page from appearing in the XML sitemap?"
    assert extractive_answer(question, passages, use_embedder=False, min_score=0.20) == []
    answer = extractive_answer(question, passages, min_score=0.20, semantic_min_score=0.30)
    assert answer
    assert answer[0].text.startswith("You can exclude pages from the sitemap by returning an empty list.")
    assert answer[0].source_number == 1
    for off_topic in ("What is the boiling point of mercury?", "How much does Divio charge per month?"):
        assert extractive_answer(off_topic, passages, semantic_min_score=0.30) == []
