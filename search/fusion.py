"""Fusing ranked lists from the retrieval legs, client-side (the engine's `rrf` retriever is a licensed
feature and absent from the core distribution).

Each function takes `{leg: [(id, score), ...]}` with each list best-first, and returns
`[(id, fused_score), ...]` best-first. The measured comparison that chose the default is in
`search/RETRIEVAL.md`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Ranked = Sequence[tuple[str, float]]
Legs = Mapping[str, Ranked]
Fused = list[tuple[str, float]]


def _sorted(scores: dict[str, float]) -> Fused:
    # Ties broken by id so results are deterministic across runs and backends.
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def rrf(legs: Legs, *, weights: Mapping[str, float] | None = None, k: float = 60.0) -> Fused:
    """Weighted reciprocal rank fusion: Σ w_leg / (k + rank)."""
    weights = weights or {}
    scores: dict[str, float] = {}
    for leg, ranked in legs.items():
        weight = weights.get(leg, 1.0)
        for rank, (item_id, _score) in enumerate(ranked, start=1):
            scores[item_id] = scores.get(item_id, 0.0) + weight / (k + rank)
    return _sorted(scores)


def _minmax(ranked: Ranked) -> dict[str, float]:
    if not ranked:
        return {}
    values = [s for _i, s in ranked]
    low, high = min(values), max(values)
    span = high - low
    return {i: (s - low) / span if span > 0 else 1.0 for i, s in ranked}


def _zscore(ranked: Ranked) -> dict[str, float]:
    if not ranked:
        return {}
    values = [s for _i, s in ranked]
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return {i: (s - mean) / std if std > 0 else 0.0 for i, s in ranked}


NORMALISERS: dict[str, Callable[[Ranked], dict[str, float]]] = {"minmax": _minmax, "zscore": _zscore}


def convex(legs: Legs, *, weights: Mapping[str, float] | None = None, normalise: str = "minmax") -> Fused:
    """Σ w_leg · normalised score; a candidate missing from a leg gets that leg's lowest normalised score
    (it ranked below everything the leg returned)."""
    weights = weights or {}
    normaliser = NORMALISERS[normalise]
    normalised = {leg: normaliser(ranked) for leg, ranked in legs.items()}
    ids = {i for scores in normalised.values() for i in scores}
    fused = {}
    for item_id in ids:
        total = 0.0
        for leg, scores in normalised.items():
            floor = min(scores.values()) if scores else 0.0
            total += weights.get(leg, 1.0) * scores.get(item_id, floor)
        fused[item_id] = total
    return _sorted(fused)


def bm25_confidence(ranked: Ranked, *, depth: int = 10) -> float:
    """How much a BM25 list stands out, in [0, 1]: the relative margin of its top score over the mean of
    its top `depth`. Flat lists (many documents matching the same common words) give ~0; a query whose
    rare terms single out a few documents gives a large margin."""
    if len(ranked) < 2:
        return 1.0 if ranked else 0.0
    top = [s for _i, s in ranked[:depth]]
    mean = sum(top) / len(top)
    if top[0] <= 0:
        return 0.0
    return max(0.0, min(1.0, (top[0] - mean) / top[0]))


def adaptive_convex(
    legs: Legs,
    *,
    text_leg: str = "bm25",
    vector_leg: str = "knn",
    base_weight: float = 0.2,
    normalise: str = "minmax",
    depth: int = 10,
) -> Fused:
    """Convex fusion whose BM25 weight grows with how decisive the BM25 list is (see bm25_confidence):
    w_text = base_weight · (0.5 + confidence), the vector leg gets 1 − w_text."""
    confidence = bm25_confidence(legs.get(text_leg, ()), depth=depth)
    w_text = max(0.0, min(1.0, base_weight * (0.5 + confidence)))
    return convex(legs, weights={text_leg: w_text, vector_leg: 1.0 - w_text}, normalise=normalise)


def leg_agreement(legs: Legs, *, text_leg: str = "bm25", vector_leg: str = "knn", depth: int = 10) -> float:
    """Share of the text leg's top `depth` that the vector leg also returned among its candidates, in
    [0, 1]. Low agreement means BM25 matched words the meaning does not support."""
    text_top = [i for i, _s in legs.get(text_leg, ())[:depth]]
    if not text_top:
        return 0.0
    vector_ids = {i for i, _s in legs.get(vector_leg, ())}
    return sum(1 for i in text_top if i in vector_ids) / len(text_top)


def agreement_convex(
    legs: Legs,
    *,
    text_leg: str = "bm25",
    vector_leg: str = "knn",
    base_weight: float = 0.4,
    normalise: str = "minmax",
    depth: int = 10,
) -> Fused:
    """Convex fusion whose BM25 weight is scaled by how much the legs agree (see leg_agreement): when
    BM25's best hits are not among the semantic candidates, the vector order stands."""
    agreement = leg_agreement(legs, text_leg=text_leg, vector_leg=vector_leg, depth=depth)
    w_text = max(0.0, min(1.0, base_weight * agreement))
    return convex(legs, weights={text_leg: w_text, vector_leg: 1.0 - w_text}, normalise=normalise)


FUSIONS: dict[str, Callable[..., Fused]] = {
    "rrf": rrf,
    "convex": convex,
    "adaptive_convex": adaptive_convex,
    "agreement_convex": agreement_convex,
}


def fuse(legs: Legs, *, method: str, **params: Any) -> Fused:
    try:
        function = FUSIONS[method]
    except KeyError as e:
        raise ValueError(f"Unknown fusion method {method!r}; known: {', '.join(FUSIONS)}.") from e
    return function(legs, **params)
