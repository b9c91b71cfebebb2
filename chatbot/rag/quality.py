"""A quality score for every answer, from what the pipeline already holds: no model, a few milliseconds.

Three components in [0, 1]:

- **groundedness**: the share of the answer's sentences supported by the passages they cite. A sentence is
  supported when at least `SUPPORTED_SHARE` of its content terms occur in its cited passages (every cited
  passage of the answer for a sentence that cites none). A quoted (extractive) answer is grounded by
  construction; a model's sentence that adds what its source does not say is not.
- **retrieval confidence**: how sure retrieval was about what the answer cites. Half the best vector score
  of the retrieval, placed between the off-topic threshold (`CHATBOT_RAG` MIN_RELEVANCE, 0.70, → 0) and
  `RETRIEVAL_SURE` (→ 1); half the mean fused score of the cited sources (the fusion min-max normalises
  each leg over its candidates, so a cited source far below the best scores low).
- **coverage**: the share of the question's salient terms the answer states, weighted by their IDF over
  the passages the answer was given (a rare term the question hinges on weighs most).

`score` is their mean. The weights are equal and were not tuned (see chatbot/RAG.md for how well the
score separates answers that hold their key string from those that do not). A decline or an error has no
score: it is not an answer to judge, and declines are counted on their own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from chatbot.llm.sentences import split_sentences, terms

from .citations import cited_numbers

SUPPORTED_SHARE = 0.6
# Answers below this are listed as low quality (the per-page feedback report, the dashboard).
LOW_SCORE = 0.5
RETRIEVAL_FLOOR = 0.70
RETRIEVAL_SURE = 0.90
_MARKERS = re.compile(r"\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\]")
_RUN = re.compile(r"((?:\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\])+)")
_FENCED = re.compile(r"^(```|~~~).*?^\1\s*$", re.M | re.S)


@dataclass(frozen=True, kw_only=True)
class AnswerQuality:
    score: float
    groundedness: float
    retrieval: float
    coverage: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, value: Mapping[str, object] | None) -> AnswerQuality | None:
        if not value:
            return None
        try:
            return cls(**{k: float(value[k]) for k in ("score", "groundedness", "retrieval", "coverage")})  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True, kw_only=True)
class CitedPassage:
    number: int
    text: str
    fused: float  # the source's fused retrieval score, 0..1
    # Where the passage sits ("Page title › Section"), as its source card shows it: a quote may name it
    # ("`WAGTAILAPI_LIMIT_MAX`: Default is 20 …", a list quoted with the heading that introduces it).
    heading: str = ""


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


def answer_claims(content: str) -> list[tuple[str, list[int]]]:
    """The answer's sentences (code blocks left out: they are quoted, not claimed), each with the numbers
    of the marker run that follows it: every sentence before a run claims what the run cites (a model
    often cites once at the end of a paragraph); sentences after the last run cite nothing."""
    pieces = _RUN.split(_FENCED.sub("\n", content))
    claims: list[tuple[str, list[int]]] = []
    for index in range(0, len(pieces), 2):
        numbers = cited_numbers(pieces[index + 1]) if index + 1 < len(pieces) else []
        for line in pieces[index].splitlines():
            for sentence in split_sentences(line):
                if terms(sentence):
                    claims.append((sentence, numbers))
    return claims


def groundedness(content: str, passages: Sequence[CitedPassage]) -> float:
    by_number = {p.number: terms(f"{p.heading}\n{p.text}") for p in passages}
    everything = set().union(*by_number.values()) if by_number else set()
    claims = answer_claims(content)
    if not claims:
        return 0.0
    supported = 0
    for text, numbers in claims:
        cited = [by_number[n] for n in numbers if n in by_number]
        pool = set().union(*cited) if cited else everything
        claim_terms = terms(text)
        if len(claim_terms & pool) >= SUPPORTED_SHARE * len(claim_terms):
            supported += 1
    return supported / len(claims)


def retrieval_confidence(best_knn: float | None, passages: Sequence[CitedPassage]) -> float:
    fused = sum(_clamp(p.fused) for p in passages) / len(passages) if passages else 0.0
    if best_knn is None:  # no vector leg (a re-ranker, a backend without vectors): fused scores alone
        return fused
    sure = _clamp((best_knn - RETRIEVAL_FLOOR) / (RETRIEVAL_SURE - RETRIEVAL_FLOOR))
    return 0.5 * sure + 0.5 * fused


def idf_weights(question_terms: Iterable[str], documents: Sequence[set[str]]) -> dict[str, float]:
    """1 + ln((N + 1) / (df + 1)): a term every passage holds still counts once, an absent one most."""
    n = len(documents)
    return {t: 1.0 + math.log((n + 1) / (sum(1 for d in documents if t in d) + 1)) for t in question_terms}


def coverage(question: str, content: str, documents: Sequence[set[str]]) -> float:
    wanted = terms(question)
    if not wanted:
        return 1.0
    weights = idf_weights(wanted, documents)
    stated = terms(_MARKERS.sub("", content))
    return sum(w for t, w in weights.items() if t in stated) / sum(weights.values())


def answer_quality(
    *,
    question: str,
    content: str,
    cited: Sequence[CitedPassage],
    given: Sequence[str],
    best_knn: float | None,
) -> AnswerQuality:
    """The score of an answer `content` to `question` (the standalone query), citing `cited`, written from
    the passages `given` (all the answer was shown), after a retrieval whose best vector score was
    `best_knn`."""
    grounded = groundedness(content, cited)
    confidence = retrieval_confidence(best_knn, cited)
    covered = coverage(question, content, [terms(text) for text in given])
    return AnswerQuality(
        score=round((grounded + confidence + covered) / 3, 4),
        groundedness=round(grounded, 4),
        retrieval=round(confidence, 4),
        coverage=round(covered, 4),
    )
