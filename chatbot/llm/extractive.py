"""The default, model-free answerer: the best supporting sentences of the retrieved passages, cited.

It does not write text (`supports_generation = False`). For this provider the chat service calls
`extractive_answer()` and, when it returns sentences, streams them with `sentences_stream()` through the
same SSE path a model's tokens take; when it returns [] the knowledge base does not cover the question
and the service says so.

Scoring: a sentence earns the IDF weight (over the sentences of the given passages) of each question term
it contains, as a share of the question's total weight; terms the passages never mention weigh most, so a
question about something absent scores low. The passage around the sentence and its retrieval rank add a
little. With an embedder (the knowledge embedder by default), the question's similarity to the ten best
sentences joins their score, so a paraphrased question can still be answered (see `extractive_answer`);
it costs one batch of ten short sentences per answer.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings

from datacollection.conf import settings_dict

from .base import BaseLLM, ChatMessage, GenerationChunk, LLMBadRequest, Usage
from .sentences import markdown_units, terms

logger = logging.getLogger(__name__)

# Calibrated on ../shared/eval/wagtail-docs/questions.jsonl with the top 5 sections of a plain BM25
# (benchmarks/llm.py): at 0.25, 11 of the 15 unanswerable questions are declined while 14 of the 23 answers
# found in the passages are kept; 0.20 keeps 19 of 23 but declines only 10 of 15.
DEFAULT_MIN_SCORE = 0.25
# Keep further sentences only if they score close to the best one: a weak second sentence dilutes a good
# answer more than it helps.
RELATIVE_CUTOFF = 0.75
# With an embedder, support = _W_LEXICAL · lexical + (1 − _W_LEXICAL) · cosine, over the best
# _EMBEDDER_CANDIDATES sentences by lexical score. Chosen with `benchmarks/rag.py`'s pipeline context on the
# Wagtail docs questions (chatbot/RAG.md): at the same share of unanswerable questions declined (12 of 15)
# as lexical support alone, it answers 8 more of the 70 answerable ones and quotes their key string more
# often (must_contain 0.271 → 0.343); weights 0.65-0.75 all move the trade-off the same way.
_W_LEXICAL = 0.7
DEFAULT_SEMANTIC_MIN_SCORE = 0.30
EXTRACTIVE_KEYS = frozenset({"MIN_SCORE", "EMBEDDER", "SEMANTIC_MIN_SCORE"})
_MIN_WORDS = 4
_LONG_WORDS = 60
_EMBEDDER_CANDIDATES = 10


@dataclass(frozen=True, kw_only=True)
class SourcePassage:
    number: int  # the 1-based citation number the answer shows as [n]
    title: str
    text: str


@dataclass(frozen=True, kw_only=True)
class AnswerSentence:
    text: str
    source_number: int
    score: float
    # The block the sentence introduces, shown after it (an answer unit): a fenced code block or a list.
    code: str = ""


@dataclass(frozen=True, kw_only=True)
class _Candidate:
    text: str
    source_number: int
    rank: int  # position of its passage in `sources`
    position: int  # position within its passage
    terms: frozenset[str]
    code: str = ""


def _idf(document_terms: Sequence[frozenset[str]]) -> Callable[[str], float]:
    n = len(document_terms)
    df: dict[str, int] = {}
    for found in document_terms:
        for term in found:
            df[term] = df.get(term, 0) + 1

    def idf(term: str) -> float:
        d = df.get(term, 0)
        return math.log(1.0 + (n - d + 0.5) / (d + 0.5))

    return idf


def _candidates(sources: Sequence[SourcePassage]) -> tuple[list[_Candidate], list[list[tuple[str, str]]]]:
    """The sentences worth scoring, and every unit of each passage in order (for the lead's neighbours)."""
    found: list[_Candidate] = []
    passages: list[list[tuple[str, str]]] = []
    for rank, source in enumerate(sources):
        units = markdown_units(source.text)
        passages.append(units)
        for position, (sentence, code) in enumerate(units):
            if len(sentence.split()) < _MIN_WORDS:
                continue
            found.append(
                _Candidate(
                    text=sentence,
                    source_number=source.number,
                    rank=rank,
                    position=position,
                    terms=frozenset(terms(sentence)),
                    code=code,
                )
            )
    return found, passages


# Weights of the evidence around a sentence, relative to its own terms (weight 1). Chosen on the Wagtail
# docs questions (benchmarks/llm.py): the passage's title and its other sentences matter; the neighbours'
# terms help when an answer's subject is named in the sentence before it.
_W_TITLE = 0.3
_W_PASSAGE = 0.5
_W_NEIGHBOUR = 0.2
# Retrieval order is evidence too, but weak: the fifth passage loses 16 % against the first.
_RANK_PENALTY = 0.04


def _lexical_scores(
    question_terms: set[str], candidates: Sequence[_Candidate], sources: Sequence[SourcePassage]
) -> list[float]:
    idf = _idf([c.terms for c in candidates])
    total = sum(idf(t) for t in question_terms)

    def coverage(found: Iterable[str]) -> float:
        return sum(idf(t) for t in question_terms.intersection(found)) / total

    titles = [frozenset(terms(s.title)) for s in sources]
    # A passage's terms are its title's and its sentences' (code and headings aside): no second analysis.
    passage_terms = [set(title) for title in titles]
    for c in candidates:
        passage_terms[c.rank].update(c.terms)
    passages = [coverage(found) for found in passage_terms]
    own = [coverage(c.terms) for c in candidates]
    scores = []
    for i, c in enumerate(candidates):
        neighbours = [
            own[j] for j in (i - 1, i + 1) if 0 <= j < len(candidates) and candidates[j].rank == c.rank
        ]
        evidence = (
            own[i]
            + _W_TITLE * coverage(titles[c.rank] - c.terms)
            + _W_PASSAGE * passages[c.rank]
            + _W_NEIGHBOUR * max(neighbours, default=0.0)
        ) / (1 + _W_TITLE + _W_PASSAGE + _W_NEIGHBOUR)
        length = 0.9 if len(c.text.split()) > _LONG_WORDS else 1.0
        scores.append(evidence * length * (1.0 - _RANK_PENALTY * min(c.rank, 10)))
    return scores


# Units an answer quotes from sources other than its lead's. A second or third source's sentence is more
# often a near-miss than support: on the recorded passages of the 85 Wagtail docs questions, at most one
# raised citation precision 0.822 → 0.843 and must_contain 0.486 → 0.500 (neither fold lost on either);
# none at all cost must_contain 0.072 (chatbot/RAG.md).
_OTHER_SOURCE_UNITS = 1

_warned: set[str] = set()


def _resolve_embedder(alias: str) -> Any | None:
    """The knowledge embedder when search.embedders provides one; checked at call time, never cached."""
    if not alias:
        return None
    try:
        from search import embedders
    except ImportError:
        return None
    get_embedder = getattr(embedders, "get_embedder", None)
    if get_embedder is None:
        return None
    try:
        return get_embedder(alias)
    except Exception as e:  # noqa: BLE001 - a missing or broken embedder only costs the re-ordering
        if alias not in _warned:
            _warned.add(alias)
            logger.warning("extractive answers without embedder %r: %s", alias, e)
        return None


def _embedding_scores(embedder: Any, question: str, texts: Sequence[str]) -> list[float] | None:
    try:
        query = np.asarray(embedder.embed_query(question), dtype=np.float32)
        passages = np.asarray(embedder.embed_documents(list(texts)), dtype=np.float32)
    except Exception as e:  # noqa: BLE001 - see _resolve_embedder
        logger.warning("extractive answers: embedding failed, lexical order kept: %s", e)
        return None
    return [float(v) for v in passages @ query]


def extractive_settings() -> dict[str, Any]:
    return settings_dict("CHATBOT_EXTRACTIVE", known=EXTRACTIVE_KEYS) if settings.configured else {}


def extractive_answer(
    question: str,
    sources: Sequence[SourcePassage],
    *,
    max_sentences: int = 4,
    min_score: float | None = None,
    semantic_min_score: float | None = None,
    embedder: Any | None = None,
    use_embedder: bool = True,
) -> list[AnswerSentence]:
    """The sentences of `sources` that best answer `question`, best first; [] when none supports one.

    The candidates are the `_EMBEDDER_CANDIDATES` sentences with the best lexical support (see the module
    docstring). With an embedder (`embedder`, else the alias CHATBOT_EXTRACTIVE["EMBEDDER"] resolved at
    call time; `use_embedder=False` turns it off) a candidate's support is `0.7 · lexical + 0.3 ·
    cosine(question, sentence)` and must reach `semantic_min_score` (CHATBOT_EXTRACTIVE
    ["SEMANTIC_MIN_SCORE"]): a paraphrased question that shares few words with the right sentence can
    still be answered. Without one, lexical support must reach `min_score` (CHATBOT_EXTRACTIVE
    ["MIN_SCORE"]).
    """
    config = extractive_settings()
    threshold = config.get("MIN_SCORE", DEFAULT_MIN_SCORE) if min_score is None else min_score
    question_terms = terms(question)
    candidates, passages = _candidates(sources)
    if not question_terms or not candidates or max_sentences < 1:
        return []
    lexical = _lexical_scores(question_terms, candidates, sources)
    ranked = sorted(range(len(candidates)), key=lambda i: lexical[i], reverse=True)
    if embedder is None and use_embedder:
        embedder = _resolve_embedder(str(config.get("EMBEDDER", "")))
    similarity = None
    if embedder is not None:
        top = ranked[:_EMBEDDER_CANDIDATES]
        similarity = _embedding_scores(embedder, question, [candidates[i].text for i in top])
    if similarity is not None:
        if semantic_min_score is None:
            semantic_min_score = config.get("SEMANTIC_MIN_SCORE", DEFAULT_SEMANTIC_MIN_SCORE)
        scores = {
            i: _W_LEXICAL * lexical[i] + (1 - _W_LEXICAL) * max(0.0, s)
            for i, s in zip(top, similarity, strict=True)
        }
        passing = [i for i in top if scores[i] >= semantic_min_score]
    else:
        passing = [i for i in ranked if lexical[i] >= threshold][:_EMBEDDER_CANDIDATES]
        scores = {i: lexical[i] for i in passing}
    if not passing:
        return []
    order = sorted(passing, key=lambda i: scores[i], reverse=True)
    chosen = _select([(candidates[i], scores[i]) for i in order], max_sentences=max_sentences)
    if max_sentences == 1:  # a short answer (ANSWER_LENGTHS "short") is the one best sentence
        return [_quoted(c, score, text=c.text, code=c.code) for c, score in chosen]
    return _with_lead_context(chosen, passages)


def _select(
    ranked: Sequence[tuple[_Candidate, float]], *, max_sentences: int
) -> list[tuple[_Candidate, float]]:
    """The best sentences, stopping at one clearly weaker than the best, without near-duplicates, and with
    at most `_OTHER_SOURCE_UNITS` from sources other than the lead's."""
    best = ranked[0][1]
    lead_source = ranked[0][0].source_number
    chosen: list[tuple[_Candidate, float]] = []
    seen: list[frozenset[str]] = []
    others = 0
    for candidate, score in ranked:
        if len(chosen) >= max_sentences or score < best * RELATIVE_CUTOFF:
            break
        elsewhere = candidate.source_number != lead_source
        if elsewhere and others >= _OTHER_SOURCE_UNITS:
            continue
        # The same sentence often appears in several passages (overlapping chunks, repeated notes).
        if any(len(candidate.terms & s) >= 0.8 * max(len(candidate.terms), len(s), 1) for s in seen):
            continue
        if any(candidate.text in c.code for c, _ in chosen):  # a list item already quoted with its list
            continue
        seen.append(candidate.terms)
        chosen.append((candidate, score))
        others += elsewhere
    return chosen


# A sentence that leans on the one before it ("This causes …", "For example, …", "In the example below …").
_LEANS_BACK = re.compile(
    r"^(?:this|these|that|those|it|its|they|such|for example|for instance|in the example|in this example|"
    r"here|then|also|however|alternatively|otherwise|instead|so|thus|note)\b",
    re.IGNORECASE,
)


def _with_lead_context(
    chosen: Sequence[tuple[_Candidate, float]], passages: Sequence[Sequence[tuple[str, str]]]
) -> list[AnswerSentence]:
    """The lead (the best sentence) quoted with its neighbours, the others as they are.

    The key fact of an answer is often the sentence next to the one that matches the question best: "You
    can override `render_landing_page` …" before "In the example below we added a `thank_you_page` field",
    the sentence naming the setting after the one restating the question. So the lead takes the sentence
    after it (with the code or list that sentence introduces), unless it introduces a block itself, and the
    sentence before it when it leans on that one ("This …", "For example …", or a lower-case start: the
    rest of a sentence a line break cut). On the Wagtail docs questions this raised must_contain 0.357 →
    0.486 (each of the two folds +0.12 to +0.14) for answers of 62 words instead of 47; widening every
    quoted sentence so gave 0.500 for 81 (chatbot/RAG.md).
    """
    if not chosen:
        return []
    lead, lead_score = chosen[0]
    units = passages[lead.rank]
    before = ""
    if lead.position > 0 and (_LEANS_BACK.match(lead.text) or lead.text[:1].islower()):
        previous, previous_code = units[lead.position - 1]
        if not previous_code:  # its block would sit between it and the lead
            before = previous
    after, code = "", lead.code
    if not lead.code and lead.position + 1 < len(units):
        after, code = units[lead.position + 1]
    text = " ".join(part for part in (before, lead.text, after) if part)
    answer = [_quoted(lead, lead_score, text=text, code=code)]
    pulled = {before, after} - {""}
    for candidate, score in chosen[1:]:
        if candidate.source_number == lead.source_number and candidate.text in pulled:
            continue
        if code and candidate.text in code:  # an item of the list the lead now quotes
            continue
        answer.append(_quoted(candidate, score, text=candidate.text, code=candidate.code))
    return answer


def _quoted(candidate: _Candidate, score: float, *, text: str, code: str) -> AnswerSentence:
    return AnswerSentence(text=text, source_number=candidate.source_number, score=round(score, 4), code=code)


_WORD_GROUP = re.compile(r"\S+(?:\s+\S+){0,2}\s*")


async def sentences_stream(
    sentences: Sequence[AnswerSentence], *, delay: float = 0.0
) -> AsyncGenerator[GenerationChunk, None]:
    """Stream composed sentences a few words at a time, `[n]` after each, like a model's tokens."""
    words = 0
    for index, sentence in enumerate(sentences):
        prefix = " " if index and not sentences[index - 1].code else ""
        groups = _WORD_GROUP.findall(sentence.text.strip())
        for position, group in enumerate(groups):
            words += len(group.split())
            yield GenerationChunk(text=(prefix if position == 0 else "") + group)
            # Hand control back to the loop so the SSE response flushes and cancellation lands here.
            await asyncio.sleep(delay)
        yield GenerationChunk(text=f" [{sentence.source_number}]")
        if sentence.code:  # the code block (whole and fenced: shown as code) or list the sentence introduces
            yield GenerationChunk(text=f"\n\n{sentence.code}\n\n")
    yield GenerationChunk(
        text="", finish_reason="stop", usage=Usage(prompt_tokens=0, completion_tokens=words)
    )


async def extractive_stream(
    question: str,
    sources: Sequence[SourcePassage],
    *,
    max_sentences: int = 4,
    delay: float = 0.0,
) -> AsyncGenerator[GenerationChunk, None]:
    """`extractive_answer` streamed; yields only a final empty chunk when the passages do not answer."""
    # Scoring is milliseconds, but an embedder may run: keep it off the event loop.
    sentences = await asyncio.to_thread(extractive_answer, question, sources, max_sentences=max_sentences)
    async for chunk in sentences_stream(sentences, delay=delay):
        yield chunk


class ExtractiveLLM(BaseLLM):
    """The offline default: no model, so no free-form generation (see the module docstring)."""

    model_name = "extractive"
    supports_generation = False

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
    ) -> AsyncGenerator[GenerationChunk, None]:
        raise LLMBadRequest(
            "The extractive backend does not generate text: use chatbot.llm.extractive.extractive_answer().",
            code="llm_generation_unsupported",
        )
        yield GenerationChunk(text="")  # pragma: no cover - makes this an async generator


LLMBackend = ExtractiveLLM
