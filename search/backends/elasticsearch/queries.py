"""The search bodies of the Elasticsearch backend: both legs pre-filtered inside the engine by the asking
principal's visibility (compiled from search.visibility, the one rule) and an optional scope."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

from search.values import Principal, Visibility
from search.visibility import grants_for

# A query is matched on its first MAX_QUERY_CHARS characters: a pasted 10,000-character text would
# otherwise expand to thousands of term clauses (the server caps a bool query at 4,096).
MAX_QUERY_CHARS = 2000
MAX_NUM_CANDIDATES = 10_000


def visibility_filter(principal: Principal) -> dict[str, Any]:
    """`grants_for(principal)` as a filter: a bool of `should` clauses, any one of which admits a chunk."""
    grants = grants_for(principal)
    should: list[dict[str, Any]] = [{"terms": {"visibility": sorted(str(v) for v in grants.visibilities)}}]
    groups = {"term": {"visibility": str(Visibility.GROUPS)}}
    if grants.any_group:
        # `exists` is false for an empty list: a restriction to no group at all (password) stays hidden.
        should.append({"bool": {"filter": [groups, {"exists": {"field": "group_ids"}}]}})
    elif grants.group_ids:
        should.append({"bool": {"filter": [groups, {"terms": {"group_ids": sorted(grants.group_ids)}}]}})
    if grants.owner_id is not None:
        owner = [{"term": {"visibility": str(Visibility.OWNER)}}, {"term": {"owner_id": grants.owner_id}}]
        should.append({"bool": {"filter": owner}})
    return {"bool": {"should": should}}


def query_filters(principal: Principal, scope: Collection[str] | None) -> list[dict[str, Any]]:
    filters = [visibility_filter(principal)]
    if scope is not None:
        filters.append({"terms": {"source_key": sorted(scope)}})
    return filters


def text_query(
    text: str, *, fields: Sequence[str], match_type: str, principal: Principal, scope: Collection[str] | None
) -> dict[str, Any]:
    """BM25 over `fields` (a question's words spread over title and body: see `multi_match_type`)."""
    match = {"multi_match": {"query": text, "fields": list(fields), "type": match_type}}
    return {"bool": {"must": [match], "filter": query_filters(principal, scope)}}


def knn_clause(
    vector: Sequence[float],
    *,
    k: int,
    num_candidates: int | None,
    oversample: float,
    principal: Principal,
    scope: Collection[str] | None,
) -> dict[str, Any]:
    """kNN pre-filtered in the engine (a filtered-out chunk never takes a slot of the top k); with
    `oversample`, the top k × oversample int8 candidates are re-scored with the float32 vectors."""
    candidates = int(num_candidates or max(100, 4 * k))
    candidates = min(max(candidates, k, math.ceil(k * oversample)), MAX_NUM_CANDIDATES)
    knn: dict[str, Any] = {
        "field": "vector",
        "query_vector": as_floats(vector),
        "k": k,
        "num_candidates": candidates,
        "filter": query_filters(principal, scope),
    }
    if oversample > 0:
        knn["rescore_vector"] = {"oversample": oversample}
    return knn


def as_floats(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values]
