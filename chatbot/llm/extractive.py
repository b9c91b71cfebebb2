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
# Keep further sentences from other documents only if they score close to the best one: a weak sentence
# from another page is more often a near-miss than support. Sentences of the lead's own document need only
# the support bar: they are on its subject, and the one holding what is asked is often scored well below
# the sentence that restates the question ("We welcome bug reports … through the issue tracker" leads;
# "When a bug is opened, it will automatically be assigned the `type:Bug` and `status:Unconfirmed`
# labels" scores 0.37 against its 0.52). On the recorded passages of the 85 Wagtail docs questions,
# exempting the lead's document: must_contain 0.586 → 0.614 (fold 0 0.564 → 0.590, fold 1 0.613 → 0.645),
# citation precision 0.841 → 0.857, for answers of 85 words instead of 73; declines unchanged. Lowering
# the cutoff for every document instead gains one key string, in one fold, and costs precision (0.822).
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
    heading: str = ""  # the passage's own (deepest) heading, "" at the top of a page
    # The page or file the passage is part of: passages of one document share it. "" means unknown, and
    # the passage counts as a document of its own.
    document: str = ""


@dataclass(frozen=True, kw_only=True)
class AnswerSentence:
    text: str
    source_number: int
    score: float
    # The block the sentence introduces, shown after it (an answer unit): a fenced code block or a list.
    code: str = ""
    # Other sources that say the same sentence (release notes of two versions, a note repeated on several
    # pages): cited along with `source_number`.
    also: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True)
class _Candidate:
    text: str
    source_number: int
    rank: int  # position of its passage in `sources`
    position: int  # position within its passage
    terms: frozenset[str]
    code: str = ""
    heading: str = ""
    title: str = ""
    document: str = ""  # SourcePassage.document, or the passage's rank when that is unknown


@dataclass(kw_only=True)
class _Chosen:
    candidate: _Candidate
    score: float
    duplicates: list[_Candidate]  # the same sentence in other sources


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
        units = markdown_units(_heading_introduces_list(source))
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
                    heading=source.heading,
                    title=source.title,
                    document=source.document or f"#{rank}",
                )
            )
    return found, passages


_LIST_START = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\S")


def _heading_introduces_list(source: SourcePassage) -> str:
    """The passage's text, led by its heading when the passage is a list under it ("GraphQL libraries
    compatible with Wagtail" over "- wagtail-grapple …"): the heading is then what introduces the list,
    and the list's short items would be no answer on their own."""
    first = next((line for line in source.text.splitlines() if line.strip()), "")
    if not source.heading or not _LIST_START.match(first):
        return source.text
    return f"{source.heading.rstrip(' .:')}:\n\n{source.text}"


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
# Units of the lead's own document join the answer at a lower bar: this share of the support threshold. The
# sentence that restates a question best is often not the one holding what it asks for, which sits a few
# sentences further in the same section ("Reordering allows editors to arrange items by dragging" … "set
# its name as your viewset's `sort_order_field`"). On the recorded passages of the 85 Wagtail docs
# questions: must_contain 0.500 → 0.529 (fold 0 0.448 → 0.517, fold 1 0.537 both) for answers of 69 words
# instead of 63; 0.75 gives the same for 72, 1.0 is the old rule. Declines are unchanged: only the lead
# decides whether to answer (chatbot/RAG.md). It was the lead's passage. With the RELATIVE_CUTOFF exemption,
# the whole document (the page's other passages too) for both rules cites more precisely than the passage
# alone (0.841 → 0.857) for the same key strings; 0.9 or 1.0 would lose three (0.614 → 0.571).
_LEAD_DOCUMENT_BAR = 0.85

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
    top = ranked[:_EMBEDDER_CANDIDATES]
    similarity = None
    if embedder is not None:
        similarity = _embedding_scores(embedder, question, [candidates[i].text for i in top])
    if similarity is not None:
        if semantic_min_score is None:
            semantic_min_score = config.get("SEMANTIC_MIN_SCORE", DEFAULT_SEMANTIC_MIN_SCORE)
        scores = {
            i: _W_LEXICAL * lexical[i] + (1 - _W_LEXICAL) * max(0.0, s)
            for i, s in zip(top, similarity, strict=True)
        }
        bar = semantic_min_score
    else:
        scores = {i: lexical[i] for i in top}
        bar = threshold
    order = sorted(top, key=lambda i: scores[i], reverse=True)
    if scores[order[0]] < bar:  # only the lead decides whether to answer
        return []
    lead = candidates[order[0]]
    order = [
        i
        for i in order
        if scores[i] >= (_LEAD_DOCUMENT_BAR * bar if candidates[i].document == lead.document else bar)
    ]
    if max_sentences == 1:  # a short answer (ANSWER_LENGTHS "short") is the one best sentence
        chosen = _select([(candidates[i], scores[i]) for i in order], max_sentences=1)
        return [_quoted(c, text=c.candidate.text, code=c.candidate.code) for c in chosen]
    # The sentences quoted with the lead take no place of their own among the `max_sentences`.
    with_lead = {text for text in _lead_neighbours(lead, passages[lead.rank])[:2] if text}
    order = [i for i in order if candidates[i].rank != lead.rank or candidates[i].text not in with_lead]
    chosen = _select([(candidates[i], scores[i]) for i in order], max_sentences=max_sentences)
    return _with_lead_context(chosen, passages)


def _select(ranked: Sequence[tuple[_Candidate, float]], *, max_sentences: int) -> list[_Chosen]:
    """The best sentences: from other documents than the lead's only those close to the best
    (`RELATIVE_CUTOFF`), without near-duplicates (cited with the sentence they repeat), and with at most
    `_OTHER_SOURCE_UNITS` from sources other than the lead's."""
    best = ranked[0][1]
    lead_source = ranked[0][0].source_number
    lead_document = ranked[0][0].document
    chosen: list[_Chosen] = []
    others = 0
    for candidate, score in ranked:
        if score < best * RELATIVE_CUTOFF and candidate.document != lead_document:
            continue
        # The same sentence often appears in several passages (overlapping chunks, repeated notes).
        repeated = next(
            (
                c
                for c in chosen
                if len(candidate.terms & c.candidate.terms)
                >= 0.8 * max(len(candidate.terms), len(c.candidate.terms), 1)
            ),
            None,
        )
        if repeated is not None:
            cited = {repeated.candidate.source_number, *(d.source_number for d in repeated.duplicates)}
            # Cited along only when it says the same (a near-duplicate may differ in what matters).
            if candidate.source_number not in cited and candidate.terms == repeated.candidate.terms:
                repeated.duplicates.append(candidate)
            continue
        if len(chosen) >= max_sentences:
            continue  # still looking for repeats of what is chosen
        elsewhere = candidate.source_number != lead_source
        if elsewhere and others >= _OTHER_SOURCE_UNITS:
            continue
        if any(candidate.text in c.candidate.code for c in chosen):  # a list item quoted with its list
            continue
        chosen.append(_Chosen(candidate=candidate, score=score, duplicates=[]))
        others += elsewhere
    return chosen


# A sentence that leans on the one before it ("This causes …", "For example, …", "In the example below …").
_LEANS_BACK = re.compile(
    r"^(?:this|these|that|those|it|its|they|such|for example|for instance|in the example|in this example|"
    r"here|then|also|however|alternatively|otherwise|instead|so|thus|note)\b",
    re.IGNORECASE,
)


def _lead_neighbours(lead: _Candidate, units: Sequence[tuple[str, str]]) -> tuple[str, str, str]:
    """What the lead is quoted with (see `_with_lead_context`): the sentence before it if it leans on
    that one, the sentence after it unless it introduces a block itself, and the block shown after them."""
    before = ""
    if lead.position > 0 and (_LEANS_BACK.match(lead.text) or lead.text[:1].islower()):
        previous, previous_code = units[lead.position - 1]
        if not previous_code:  # its block would sit between it and the lead
            before = previous
    after, code = "", lead.code
    if not lead.code and lead.position + 1 < len(units):
        after, code = units[lead.position + 1]
    return before, after, code


def _with_lead_context(
    chosen: Sequence[_Chosen], passages: Sequence[Sequence[tuple[str, str]]]
) -> list[AnswerSentence]:
    """The lead (the best sentence) quoted with its neighbours; the others alone, or with the sentence after
    them when that one carries the code or list their paragraph introduces.

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
    lead = chosen[0].candidate
    before, after, code = _lead_neighbours(lead, passages[lead.rank])
    text = " ".join(part for part in (before, lead.text, after) if part)
    # A lead that opens its passage and leans back ("This release addresses …") leans on the title.
    titled = lead.position == 0 and bool(_LEANS_BACK.match(text))
    named: set[str] = set()  # the identifiers the answer has named: each is named once
    answer = [_quoted(chosen[0], text=text, code=code, titled=titled, named=named)]
    pulled = {(lead.source_number, part) for part in (before, lead.text, after) if part}
    blocks = [code] if code else []
    for unit in chosen[1:]:
        candidate = unit.candidate
        if (candidate.source_number, candidate.text) in pulled:
            continue
        if any(candidate.text in block for block in blocks):  # an item of a list already quoted
            continue
        text, block = candidate.text, candidate.code
        # The sentence after it carries the block their paragraph introduces ("For example, this
        # configuration only allows Vimeo and YouTube." "It also adds a custom provider:" + the code).
        # On the recorded passages of the 85 questions: must_contain 0.571 → 0.586 (fold 0 unchanged, fold
        # 1 +1), answers of 74 words instead of 69; widening every supporting unit the lead's way gave the
        # same for 84 words.
        units = passages[candidate.rank]
        if not block and candidate.position + 1 < len(units):
            following, following_block = units[candidate.position + 1]
            if (
                following_block
                and following_block not in blocks
                and (candidate.source_number, following) not in pulled
            ):
                text, block = f"{text} {following}", following_block
                pulled.add((candidate.source_number, following))
        if block:
            blocks.append(block)
        pulled.add((candidate.source_number, candidate.text))
        answer.append(_quoted(unit, text=text, code=block, named=named))
    return answer


# A heading that names one thing of code: `WAGTAILAPI_LIMIT_MAX`, `purge_embeds`, `Page.get_url()`,
# `RichTextBlock`, `slugurl`. Prose headings ("Settings", "Custom branding") are capitalised words.
_IDENTIFIER_HEADING = re.compile(
    r"^`?(?:[A-Za-z_][\w.]*[_.][\w.]*|[A-Z][a-z0-9]+[A-Z]\w*|[a-z][a-z0-9]{3,})(?:\(\))?`?$"
)


def _quoted(
    unit: _Chosen, *, text: str, code: str, titled: bool = False, named: set[str] | None = None
) -> AnswerSentence:
    """A unit as the answer shows it, citing every source that says it.

    In a reference entry headed by the identifier it documents, the sentences leave that subject out
    ("Default is 20, used to change the maximum number of results …" under `WAGTAILAPI_LIMIT_MAX`): the
    quote names it first, unless it or an earlier quote of the answer (`named`) already does. A `titled`
    quote (one that leans on its page's title) names the titles of the sources it is quoted from ("Wagtail
    7.3.3 release notes; Wagtail 7.4.2 release notes: This release addresses …").
    """
    candidate = unit.candidate
    named = set() if named is None else named
    name = candidate.heading.strip("`")
    if name and _IDENTIFIER_HEADING.match(candidate.heading):
        if name.lower() not in named and name.lower() not in f"{text}\n{code}".lower():
            text = f"`{name}`: {text}"
        named.add(name.lower())
    elif titled:
        titles = dict.fromkeys(c.title for c in (candidate, *unit.duplicates) if c.title)
        if titles:
            text = f"{'; '.join(titles)}: {text}"
    return AnswerSentence(
        text=text,
        source_number=candidate.source_number,
        score=round(unit.score, 4),
        code=code,
        also=tuple(d.source_number for d in unit.duplicates),
    )


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
        yield GenerationChunk(text=" " + "".join(f"[{n}]" for n in (sentence.source_number, *sentence.also)))
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
