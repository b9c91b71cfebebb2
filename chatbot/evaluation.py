"""End-to-end evaluation of the answer service on a question file shaped like
../shared/eval/wagtail-docs/questions.jsonl, against the live index.

Each question is asked through `answer_stream` in a fresh session (its `history` stored first, so a
follow-up is condensed exactly as in a chat). Retrieval is scored on the same standalone query the service
retrieves with, at file level: a chunk counts for its source's `source_path`, each file once.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from asgiref.sync import async_to_sync

from chatbot.llm import get_llm
from chatbot.models import ChatSession, Message
from chatbot.rag.condense import question_condense
from chatbot.rag.config import RagConfig
from chatbot.rag.pipeline import hits_for_turn, relevance
from chatbot.services import answer_stream
from knowledgebase.models import KnowledgePage
from search.metrics import ndcg_at_k, percentile, recall_at_k
from search.values import Principal

# Chunks retrieved to rank files: with at most 3 chunks per source, 30 chunks give at least 10 files.
RANKING_CHUNKS = 30


@dataclass(frozen=True, kw_only=True)
class EvalQuestion:
    id: str
    question: str
    answerable: bool
    kind: str
    relevant: Mapping[str, int]  # path -> grade
    must_contain: tuple[str, ...] = ()
    history: tuple[Mapping[str, str], ...] = ()


@dataclass(kw_only=True)
class QuestionResult:
    id: str
    kind: str
    answerable: bool
    query: str
    relevance: float  # the best kNN score, what the service's decline threshold compares
    ranked_paths: list[str]
    cited_paths: list[str]
    declined: bool
    status: str
    answer: str
    first_token: float | None
    total: float
    ndcg10: float | None = None
    recall5: float | None = None
    must_contain_hit: bool | None = None
    quality: float | None = None  # the answer's quality score (chatbot.rag.quality); None for a decline
    model: str = ""  # what answered ("extractive", or the generating model's name)
    error: str = ""
    related_paths: list[str] = field(default_factory=list)  # a decline's closest pages (Message.related)


@dataclass(kw_only=True)
class Summary:
    count: int = 0
    metrics: dict[str, float | None] = field(default_factory=dict)


def questions_load(path: Path | str) -> list[EvalQuestion]:
    questions = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        relevant: dict[str, int] = {}
        for rel in item.get("relevant", []):
            relevant[rel["path"]] = max(relevant.get(rel["path"], 0), int(rel.get("grade", 1)))
        questions.append(
            EvalQuestion(
                id=str(item["id"]),
                question=item["question"],
                answerable=bool(item.get("answerable", True)),
                kind=str(item.get("kind", "")),
                relevant=relevant,
                must_contain=tuple(item.get("must_contain", [])),
                history=tuple(item.get("history", [])),
            )
        )
    return questions


def ranked_files(hits: Iterable[Any], paths: Mapping[tuple[str, int], str]) -> list[str]:
    """Files in order of their best chunk, each once (chunks without a path count under their key)."""
    ranked: list[str] = []
    for hit in hits:
        chunk = hit.chunk
        path = chunk.source_path or paths.get((chunk.source_type, chunk.source_id)) or chunk.source_key
        if path not in ranked:
            ranked.append(path)
    return ranked


def _page_paths(keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
    ids = [i for t, i in keys if t == "page"]
    return {
        ("page", pk): p for pk, p in KnowledgePage.objects.filter(pk__in=ids).values_list("pk", "source_path")
    }


def _key(source: Mapping[str, Any]) -> tuple[str, int]:
    return (str(source["source_type"]), int(source["source_id"]))


def _session_with_history(user: Any, question: EvalQuestion) -> ChatSession:
    session = ChatSession.objects.create(
        user=user, title=f"eval {question.id}", settings={"origin": "evaluate_rag"}
    )
    for turn in question.history:
        Message.objects.create(session=session, role=turn["role"], content=turn["content"])
    return session


def _retrieval(
    question: EvalQuestion, *, principal: Principal, config: RagConfig
) -> tuple[str, list[str], float]:

    history = [dict(t) for t in question.history]
    query = async_to_sync(question_condense)(
        question.question,
        history,
        llm=get_llm(config.llm_alias),
        use_llm=config.condense_with_llm,
        max_tokens=config.condense_max_tokens,
        timeout=config.condense_timeout,
    )
    hits = hits_for_turn(
        query, question=question.question, history=history, principal=principal, k=RANKING_CHUNKS
    )
    paths = _page_paths({(h.chunk.source_type, h.chunk.source_id) for h in hits})
    return query, ranked_files(hits, paths)[:10], relevance(hits)


def _answer(session: ChatSession, user: Any, text: str) -> dict[str, Any]:
    events: dict[str, Any] = {"first_token": None, "sources": [], "end": None}

    async def consume() -> None:
        started = time.perf_counter()
        async for event in answer_stream(session=session, user=user, question=text):
            if event.type == "token" and events["first_token"] is None:
                events["first_token"] = time.perf_counter() - started
            elif event.type == "source":
                events["sources"].append(event.data)
            elif event.type in ("complete", "error"):
                events["end"] = event
        events["total"] = time.perf_counter() - started

    async_to_sync(consume)()
    return events


def question_evaluate(question: EvalQuestion, *, user: Any, config: RagConfig) -> QuestionResult:
    principal = Principal.from_user(user)
    query, ranked, top = _retrieval(question, principal=principal, config=config)
    session = _session_with_history(user, question)
    try:
        events = _answer(session, user, question.question)
    finally:
        session.delete()
    end = events["end"]
    related = list(end.data.get("related") or []) if end.type == "complete" else []
    paths = _page_paths({_key(s) for s in [*events["sources"], *related]})
    cited = [paths.get(_key(s), "") for s in events["sources"]]
    answer = str(end.data.get("content", "")) if end.type == "complete" else ""
    result = QuestionResult(
        id=question.id,
        kind=question.kind,
        answerable=question.answerable,
        query=query,
        relevance=round(top, 4),
        ranked_paths=ranked,
        cited_paths=cited,
        declined=bool(end.data.get("declined")) if end.type == "complete" else False,
        status=str(end.data.get("status", "error")),
        answer=answer,
        first_token=events["first_token"],
        total=events["total"],
        error=str(end.data.get("code", "")) if end.type == "error" else "",
        quality=(end.data.get("quality") or {}).get("score") if end.type == "complete" else None,
        model=str(end.data.get("model", "")),
        related_paths=[paths.get(_key(s), "") for s in related],
    )
    if question.answerable and question.relevant:
        result.ndcg10 = ndcg_at_k(ranked, question.relevant, 10)
        result.recall5 = recall_at_k(ranked, question.relevant, 5)
    if question.answerable and question.must_contain:
        # A decline states no fact, whatever its wording holds: "… in the pages and documents you can see"
        # once counted as the key string "documents".
        lower = answer.lower()
        result.must_contain_hit = not result.declined and all(
            s.lower() in lower for s in question.must_contain
        )
    return result


def _mean(values: Sequence[float | bool]) -> float | None:
    return round(sum(float(v) for v in values) / len(values), 4) if values else None


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """The probability that a random positive scores above a random negative (ties count half): the area
    under the ROC curve, without a library. None when either side is empty."""
    if not positives or not negatives:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return round(wins / (len(positives) * len(negatives)), 4)


def quality_auc(results: Sequence[QuestionResult]) -> dict[str, float | None]:
    """How well the quality score separates answers that hold their must_contain strings from those that
    do not: over the answered (not declined) answerable questions that name strings, and over all of them
    with a decline scored 0 (the service gave no answer)."""
    judged = [r for r in results if r.answerable and r.must_contain_hit is not None]
    answered = [r for r in judged if not r.declined and r.quality is not None]
    return {
        "quality_auc": auc(
            [r.quality or 0.0 for r in answered if r.must_contain_hit],
            [r.quality or 0.0 for r in answered if not r.must_contain_hit],
        ),
        "quality_auc_with_declines": auc(
            [0.0 if r.declined else r.quality or 0.0 for r in judged if r.must_contain_hit],
            [0.0 if r.declined else r.quality or 0.0 for r in judged if not r.must_contain_hit],
        ),
        "quality_mean": _mean([r.quality for r in answered if r.quality is not None]),
    }


def question_fold(question_id: str, *, folds: int = 2) -> int:
    """A question's fold: from a hash of its id, so the split is fixed, needs no seed and ignores order."""
    return int(hashlib.sha256(question_id.encode()).hexdigest()[:8], 16) % folds


def summarise(results: Sequence[QuestionResult], relevant: Mapping[str, Mapping[str, int]]) -> Summary:
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    cited = [(r, p) for r in answerable for p in r.cited_paths]
    firsts = [r.first_token for r in results if r.first_token is not None]
    totals = [r.total for r in results]
    return Summary(
        count=len(results),
        metrics={
            "ndcg@10": _mean([r.ndcg10 for r in answerable if r.ndcg10 is not None]),
            "recall@5": _mean([r.recall5 for r in answerable if r.recall5 is not None]),
            "must_contain": _mean([r.must_contain_hit for r in answerable if r.must_contain_hit is not None]),
            "citation_precision": _mean([relevant[r.id].get(p, 0) > 0 for r, p in cited]),
            "answered_with_citation": _mean([bool(r.cited_paths) for r in answerable]),
            "answerable_declined": _mean([r.declined for r in answerable]),
            # Of the answerable questions declined, the share whose "closest pages" hold a judged file.
            "declined_related_relevant": _mean(
                [any(relevant[r.id].get(p, 0) > 0 for p in r.related_paths) for r in answerable if r.declined]
            ),
            "unanswerable_declined": _mean([r.declined for r in unanswerable]),
            "errors": float(sum(1 for r in results if r.status == "error")),
            "first_token_p50": round(percentile(firsts, 50), 4) if firsts else None,
            "first_token_p95": round(percentile(firsts, 95), 4) if firsts else None,
            "total_p50": round(percentile(totals, 50), 4) if totals else None,
            "total_p95": round(percentile(totals, 95), 4) if totals else None,
            **quality_auc(results),
        },
    )


def evaluation_run(
    questions: Sequence[EvalQuestion],
    *,
    user: Any,
    config: RagConfig | None = None,
    progress: Callable[[QuestionResult], object] | None = None,
) -> dict[str, Any]:
    """Every question through the service; metrics overall and per kind, and each question's result."""
    config = config or RagConfig.from_settings()
    results = []
    for question in questions:
        result = question_evaluate(question, user=user, config=config)
        results.append(result)
        if progress:
            progress(result)
    return results_report(results, questions)


def results_report(results: Sequence[QuestionResult], questions: Sequence[EvalQuestion]) -> dict[str, Any]:
    """Metrics overall and per kind, and each question's result."""
    relevant = {q.id: q.relevant for q in questions}
    kinds = sorted({r.kind for r in results})
    return {
        "questions": len(results),
        "overall": asdict(summarise(results, relevant)),
        "by_kind": {k: asdict(summarise([r for r in results if r.kind == k], relevant)) for k in kinds},
        "results": [asdict(r) for r in results],
    }


def report_format(report: Mapping[str, Any]) -> str:
    """A plain-text table: one row per kind and one overall."""
    columns = [
        "ndcg@10",
        "recall@5",
        "must_contain",
        "citation_precision",
        "unanswerable_declined",
        "answerable_declined",
        "first_token_p95",
        "total_p95",
    ]
    rows = [("overall", report["overall"])] + list(report["by_kind"].items())
    lines = ["kind           n  " + "  ".join(f"{c:>12.12}" for c in columns)]
    for name, summary in rows:
        values = []
        for column in columns:
            value = summary["metrics"].get(column)
            values.append(f"{'-':>12}" if value is None else f"{value:>12.3f}")
        lines.append(f"{name:<12} {summary['count']:>3}  " + "  ".join(values))
    return "\n".join(lines)
