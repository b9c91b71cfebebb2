"""Two-fold cross-validation of the answer service's tuned settings, so no figure is reported on the
questions its settings were chosen on.

The questions are split by a hash of their id (`chatbot.evaluation.question_fold`). Every candidate
(a set of setting overrides) is evaluated once on all questions; on each fold the candidate with the best
objective is chosen and its results on the *other* fold are kept. The held-out report joins the two
held-out halves: every question answered with settings chosen without it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.test.utils import override_settings

from chatbot.evaluation import (
    EvalQuestion,
    QuestionResult,
    question_evaluate,
    question_fold,
    results_report,
    summarise,
)
from chatbot.rag.config import RagConfig

Candidate = Mapping[str, Mapping[str, Any]]  # setting name -> keys overridden in that settings dict
Objective = Callable[[Mapping[str, float | None]], float]


def answer_objective(metrics: Mapping[str, float | None]) -> float:
    """What a threshold trades: answers that hold their key string against unanswerable questions
    declined (a lower threshold raises the first and lowers the second)."""
    return float(metrics.get("must_contain") or 0.0) + float(metrics.get("unanswerable_declined") or 0.0)


def candidate_evaluate(
    questions: Sequence[EvalQuestion], candidate: Candidate, *, user: Any
) -> list[QuestionResult]:
    """Every question through the service with the candidate's settings on top of the configured ones."""
    overrides = {name: {**getattr(settings, name, {}), **keys} for name, keys in candidate.items()}
    with override_settings(**overrides):
        config = RagConfig.from_settings()
        return [question_evaluate(q, user=user, config=config) for q in questions]


def folds_select(
    results: Sequence[Sequence[QuestionResult]],
    *,
    folds: Mapping[str, int],
    relevant: Mapping[str, Mapping[str, int]],
    objective: Objective = answer_objective,
) -> tuple[dict[int, int], list[QuestionResult]]:
    """For each fold, the index of the candidate whose results on that fold score best (the earlier one
    on a tie), and the held-out results: each chosen candidate's results on the other fold."""
    chosen: dict[int, int] = {}
    held_out: list[QuestionResult] = []
    for fold in sorted(set(folds.values())):
        scores = [
            objective(summarise([r for r in rows if folds[r.id] == fold], relevant).metrics)
            for rows in results
        ]
        best = max(range(len(results)), key=lambda i: (scores[i], -i))
        chosen[fold] = best
        held_out.extend(r for r in results[best] if folds[r.id] != fold)
    return chosen, held_out


def cross_validate(
    questions: Sequence[EvalQuestion],
    candidates: Sequence[Candidate],
    *,
    user: Any,
    objective: Objective = answer_objective,
) -> dict[str, Any]:
    """The candidates' figures on all questions and per fold, the one each fold chose, and the held-out
    report (what the chosen settings do on questions they were not chosen on)."""
    folds = {q.id: question_fold(q.id) for q in questions}
    relevant = {q.id: q.relevant for q in questions}
    results = [candidate_evaluate(questions, c, user=user) for c in candidates]
    chosen, held_out = folds_select(results, folds=folds, relevant=relevant, objective=objective)
    rows = []
    for candidate, rows_of in zip(candidates, results, strict=True):
        per_fold = {
            str(f): objective(summarise([r for r in rows_of if folds[r.id] == f], relevant).metrics)
            for f in sorted(set(folds.values()))
        }
        rows.append(
            {
                "settings": candidate,
                "public_set": asdict(summarise(rows_of, relevant))["metrics"],
                "objective_per_fold": per_fold,
            }
        )
    held = results_report(held_out, questions)
    return {
        "folds": {str(f): sum(1 for v in folds.values() if v == f) for f in sorted(set(folds.values()))},
        "objective": objective.__doc__ and " ".join(objective.__doc__.split()),
        "candidates": rows,
        "chosen": {str(fold): candidates[index] for fold, index in chosen.items()},
        "held_out": {k: held[k] for k in ("questions", "overall", "by_kind")},
    }
