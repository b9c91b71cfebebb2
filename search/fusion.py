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


def leg_overlap(
    legs: Legs,
    *,
    text_leg: str = "bm25",
    vector_leg: str = "knn",
    depth: int = 10,
    groups: Mapping[str, str] | None = None,
) -> float:
    """How much the two legs agree at the top, in [0, 1]: the share of what their top `depth` hold in
    common, over the smaller of the two sets. With `groups` (item id → source) the legs are compared by
    the sources of their top items, so two different sections of the same page count as agreement.

    Low overlap means BM25 matched the words of the question in passages the meaning does not support
    ("Which monarchs of the United Kingdom…" finding articles about the United Kingdom); high overlap
    means BM25 can only reorder candidates the vector leg also rates highly."""

    def top(leg: str) -> set[str]:
        ids = [i for i, _s in legs.get(leg, ())[:depth]]
        return {groups.get(i, i) for i in ids} if groups is not None else set(ids)

    text_top, vector_top = top(text_leg), top(vector_leg)
    shorter = min(len(text_top), len(vector_top))
    if shorter == 0:
        return 0.0
    return len(text_top & vector_top) / shorter


def adaptive_convex(
    legs: Legs,
    *,
    text_leg: str = "bm25",
    vector_leg: str = "knn",
    base_weight: float = 0.4,
    normalise: str = "minmax",
    depth: int = 10,
    margin: bool = True,
    agreement: bool = True,
    groups: Mapping[str, str] | None = None,
) -> Fused:
    """Convex fusion with a per-query BM25 weight:

        w_text = base_weight · (0.5 + margin) · overlap,   w_vector = 1 − w_text

    where margin (bm25_confidence) is how decisive the BM25 list is and overlap (leg_overlap) how much
    the legs agree on the sources (`groups`) of their top `depth`; `margin=False` / `agreement=False` drop
    a factor. A flat BM25 list, or one that disagrees with the vector leg, leaves the vector order nearly
    untouched; a decisive one that agrees with it reorders the head. Measured in
    search/RETRIEVAL-HISTORY.md."""
    w_text = base_weight
    if margin:
        w_text *= 0.5 + bm25_confidence(legs.get(text_leg, ()), depth=depth)
    if agreement:
        w_text *= leg_overlap(legs, text_leg=text_leg, vector_leg=vector_leg, depth=depth, groups=groups)
    w_text = max(0.0, min(1.0, w_text))
    return convex(legs, weights={text_leg: w_text, vector_leg: 1.0 - w_text}, normalise=normalise)


def agreement_convex(legs: Legs, **params: Any) -> Fused:
    """`adaptive_convex` without the margin: BM25's weight is base_weight · overlap."""
    return adaptive_convex(legs, **params, margin=False)


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
