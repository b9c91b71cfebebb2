"""The evaluation's calibration and cross-validation arithmetic: AUC, the fixed fold split, and choosing a
candidate on one fold while reporting it on the other."""

from __future__ import annotations

from typing import Any

import pytest

from chatbot.evaluation import QuestionResult, auc, quality_auc, question_fold
from chatbot.evaluation_folds import answer_objective, folds_select


def _result(qid: str, *, hit: bool | None, declined: bool = False, quality: float | None = 0.5, **kw: Any):
    return QuestionResult(
        id=qid,
        kind=kw.get("kind", "factoid"),
        answerable=kw.get("answerable", True),
        query=qid,
        relevance=0.8,
        ranked_paths=[],
        cited_paths=[],
        declined=declined,
        status="complete",
        answer="",
        first_token=0.01,
        total=0.02,
        must_contain_hit=hit,
        quality=None if declined else quality,
    )


def test_auc_counts_ordered_pairs_and_ties_half() -> None:
    assert auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auc([0.1], [0.9]) == 0.0
    assert auc([0.5, 0.9], [0.5]) == 0.75
    assert auc([], [0.3]) is None and auc([0.3], []) is None


def test_quality_auc_over_answered_questions_and_with_declines_scored_zero() -> None:
    results = [
        _result("a", hit=True, quality=0.9),
        _result("b", hit=False, quality=0.4),
        _result("c", hit=False, declined=True),
        _result("d", hit=None, quality=0.1),  # no must_contain: not judged
        _result("e", hit=False, quality=0.95, answerable=False),  # unanswerable: not judged
    ]
    figures = quality_auc(results)
    assert figures["quality_auc"] == 1.0
    assert figures["quality_auc_with_declines"] == 1.0
    assert figures["quality_mean"] == pytest.approx((0.9 + 0.4) / 2)


def test_folds_are_fixed_by_the_id_and_split_a_set_roughly_in_half() -> None:
    ids = [f"wd-{n:03d}" for n in range(1, 86)]
    folds = [question_fold(i) for i in ids]
    assert folds == [question_fold(i) for i in ids], "deterministic"
    assert set(folds) == {0, 1} and 30 <= folds.count(0) <= 55


def test_each_fold_chooses_on_itself_and_is_reported_on_the_other() -> None:
    folds = {"a1": 0, "a2": 0, "b1": 1, "b2": 1}
    relevant: dict[str, dict[str, int]] = {k: {} for k in folds}
    # Candidate 0 answers fold 0 well and fold 1 badly; candidate 1 the opposite.
    first = [
        _result("a1", hit=True),
        _result("a2", hit=True),
        _result("b1", hit=False),
        _result("b2", hit=False),
    ]
    second = [
        _result("a1", hit=False),
        _result("a2", hit=False),
        _result("b1", hit=True),
        _result("b2", hit=True),
    ]
    chosen, held_out = folds_select([first, second], folds=folds, relevant=relevant)
    assert chosen == {0: 0, 1: 1}
    # Fold 0 chose candidate 0, which is reported on fold 1 (misses), and vice versa: held-out is honest.
    assert sorted((r.id, r.must_contain_hit) for r in held_out) == [
        ("a1", False),
        ("a2", False),
        ("b1", False),
        ("b2", False),
    ]


def test_objective_adds_key_strings_found_and_unanswerable_declined() -> None:
    assert answer_objective({"must_contain": 0.4, "unanswerable_declined": 0.8}) == pytest.approx(1.2)
    assert answer_objective({"must_contain": None, "unanswerable_declined": 0.5}) == 0.5
