"""The analytics dashboard's figures, as one JSON-ready dict (the admin dashboard renders it and the
feedback analytics API can return it unchanged).

Definitions (all over answers given in [since, until)):
- questions: user messages; answers: assistant messages (any status).
- satisfaction: 👍 / (👍 + 👎) over ratings of those answers.
- latency percentiles: linear interpolation (numpy's default) over complete answers' recorded times.
- cache hit rate, error rate, declined rate: share of answers with cache_hit / status "error" / declined.
- quality: the mean quality score (chatbot.rag.quality) of scored answers, and how many scored below
  LOW_SCORE.
- content gaps: the questions before declined answers, grouped by normalised text, most frequent first.
- indexing: jobs created in the period by status, per day, and the latest failures with their error.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from wagtail.admin.admin_url_finder import AdminURLFinder

from chatbot.logging import mask_pii
from chatbot.models import Message, MessageFeedback
from chatbot.rag.quality import LOW_SCORE
from knowledgebase.models import IndexingJob
from knowledgebase.selectors import sources_by_key

DEFAULT_DAYS = 30
_FILLER = re.compile(
    r"^(?:(?:hi|hello|hey|please|pls|thanks|thank you)\b\s*)+|(?:\s*\b(?:please|thanks|thank you))+$"
)
_NON_WORD = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")


def question_normalize(text: str) -> str:
    """The form questions are grouped by: PII masked, case-folded, punctuation and greetings dropped."""
    text = unicodedata.normalize("NFKC", mask_pii(text)).casefold()
    text = _SPACE.sub(" ", _NON_WORD.sub(" ", text)).strip()
    return _FILLER.sub("", text).strip()


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between closest ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def period_bounds(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    until = until or timezone.now()
    return since or until - timedelta(days=DEFAULT_DAYS), until


def _days(since: datetime, until: datetime) -> list[date]:
    first = timezone.localtime(since).date()
    last = timezone.localtime(until - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def analytics_summary(since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
    """The dashboard's figures for answers given in [since, until) (default: the last 30 days)."""
    since, until = period_bounds(since, until)
    messages = Message.objects.filter(created_at__gte=since, created_at__lt=until)
    answers = messages.filter(role=Message.Role.ASSISTANT)
    days = _days(since, until)
    counts = answers.aggregate(
        total=Count("id"),
        errors=Count("id", filter=Q(status=Message.Status.ERROR)),
        partial=Count("id", filter=Q(status=Message.Status.PARTIAL)),
        cache_hits=Count("id", filter=Q(cache_hit=True)),
        declined=Count("id", filter=Q(declined=True)),
        tokens=Sum("tokens_used"),
        scored=Count("id", filter=Q(quality__isnull=False)),
        low_quality=Count("id", filter=Q(quality__lt=LOW_SCORE)),
        mean_quality=Avg("quality"),
    )
    total = counts["total"]
    feedback = MessageFeedback.objects.filter(message__in=answers)
    up = feedback.filter(rating=MessageFeedback.Rating.UP).count()
    down = feedback.filter(rating=MessageFeedback.Rating.DOWN).count()
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "questions": messages.filter(role=Message.Role.USER).count(),
        "answers": total,
        "questions_per_day": _questions_per_day(messages, days),
        "feedback": {"up": up, "down": down, "satisfaction": _share(up, up + down)},
        "satisfaction_per_day": _satisfaction_per_day(feedback, days),
        "latency": _latency(answers),
        "tokens": {"total": counts["tokens"] or 0, "per_answer": _share(counts["tokens"] or 0, total)},
        "cache_hit_rate": _share(counts["cache_hits"], total),
        "error_rate": _share(counts["errors"], total),
        "partial_rate": _share(counts["partial"], total),
        "declined_rate": _share(counts["declined"], total),
        "quality": {
            "scored": counts["scored"],
            "mean": None if counts["mean_quality"] is None else round(counts["mean_quality"], 4),
            "low": counts["low_quality"],
            "low_below": LOW_SCORE,
        },
        "content_gaps": content_gaps(answers),
        "indexing": _indexing(since, until, days),
    }


def _questions_per_day(messages: QuerySet[Message], days: list[date]) -> list[dict[str, Any]]:
    per_day = dict(
        messages.filter(role=Message.Role.USER)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    return [{"date": day.isoformat(), "count": per_day.get(day, 0)} for day in days]


def _satisfaction_per_day(feedback: QuerySet[MessageFeedback], days: list[date]) -> list[dict[str, Any]]:
    rows = (
        feedback.annotate(day=TruncDate("message__created_at"))
        .values("day")
        .annotate(
            up=Count("id", filter=Q(rating=MessageFeedback.Rating.UP)),
            down=Count("id", filter=Q(rating=MessageFeedback.Rating.DOWN)),
        )
    )
    by_day = {row["day"]: row for row in rows}
    series = []
    for day in days:
        row = by_day.get(day, {"up": 0, "down": 0})
        series.append(
            {
                "date": day.isoformat(),
                "up": row["up"],
                "down": row["down"],
                "satisfaction": _share(row["up"], row["up"] + row["down"]),
            }
        )
    return series


def _latency(answers: QuerySet[Message]) -> dict[str, dict[str, Any]]:
    complete = answers.filter(status=Message.Status.COMPLETE)
    result = {}
    for name, field in (
        ("retrieval", "retrieval_time"),
        ("first_token", "first_token_time"),
        ("total", "response_time"),
    ):
        values = list(complete.exclude(**{f"{field}__isnull": True}).values_list(field, flat=True))
        result[name] = {
            "count": len(values),
            "p50": percentile(values, 50),
            "p95": percentile(values, 95),
            "p99": percentile(values, 99),
        }
    return result


def content_gaps(answers: QuerySet[Message], *, limit: int = 20) -> list[dict[str, Any]]:
    """Questions the knowledge base did not cover (declined answers), by normalised text, each with the
    page or file the search came closest to when it last declined it (`closest`, None when the question
    was off-topic): often the page to extend rather than a new one to write."""
    question = Message.objects.filter(
        session_id=OuterRef("session_id"), role=Message.Role.USER, id__lt=OuterRef("id")
    ).order_by("-id")
    declined = (
        answers.filter(declined=True)
        .annotate(question=Subquery(question.values("content")[:1]))
        .order_by("-created_at", "-id")
        .values_list("question", "created_at", "related")
    )
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}  # the newest wording of each question
    last: dict[str, datetime] = {}
    nearest: dict[str, tuple[str, int]] = {}  # the newest decline's closest (source_type, source_id)
    for text, created_at, related in declined:
        key = question_normalize(text or "")
        if not key:
            continue
        counts[key] += 1
        examples.setdefault(key, mask_pii(text).strip())
        last.setdefault(key, created_at)
        if key not in nearest and (place := _first_place(related)) is not None:
            nearest[key] = place
    ranked = sorted(counts.items(), key=lambda item: (-item[1], -last[item[0]].timestamp(), item[0]))[:limit]
    closest = _closest_sources({key: nearest[key] for key, _ in ranked if key in nearest})
    return [
        {
            "question": key,
            "count": n,
            "example": examples[key],
            "last_asked": last[key].isoformat(),
            "closest": closest.get(key),
        }
        for key, n in ranked
    ]


def _first_place(related: Any) -> tuple[str, int] | None:
    """The (source_type, source_id) of a decline's first closest page (Message.related), if any."""
    first = related[0] if isinstance(related, list) and related else None
    if isinstance(first, dict) and isinstance(first.get("source_id"), int):
        return str(first.get("source_type", "")), first["source_id"]
    return None


def _closest_sources(places: dict[str, tuple[str, int]]) -> dict[str, dict[str, Any]]:
    """Each gap's closest page or file as it is now: its current title and admin URL (none when it was
    deleted since). Only the title, as the per-page rows give it: a section heading or an anchor is the
    page's content, which a report's reader may not be allowed to see (the admin link checks that)."""
    found = sources_by_key(places.values())
    finder = AdminURLFinder()
    return {
        key: {
            "key": f"{place[0]}:{place[1]}",
            "title": str(found[place].title),
            "edit_url": finder.get_edit_url(found[place]) or "",
        }
        for key, place in places.items()
        if place in found
    }


def _indexing(since: datetime, until: datetime, days: list[date]) -> dict[str, Any]:
    jobs = IndexingJob.objects.filter(created_at__gte=since, created_at__lt=until)
    by_status = dict(jobs.values("status").annotate(n=Count("id")).values_list("status", "n"))
    per_day_rows = (
        jobs.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            indexed=Count("id", filter=Q(status=IndexingJob.Status.INDEXED)),
            failed=Count("id", filter=Q(status=IndexingJob.Status.FAILED)),
        )
    )
    per_day: dict[date, Any] = {row["day"]: row for row in per_day_rows}
    failures = [
        {
            "source_type": job.source_type,
            "source_id": job.source_id,
            "error": job.error[:300],
            "error_code": job.error_code,
            "at": (job.finished_at or job.created_at).isoformat(),
        }
        for job in jobs.filter(status=IndexingJob.Status.FAILED).order_by("-created_at")[:10]
    ]
    return {
        "jobs": sum(by_status.values()),
        "by_status": {status: by_status.get(status, 0) for status in IndexingJob.Status.values},
        "failed": by_status.get(IndexingJob.Status.FAILED, 0),
        "per_day": [
            {
                "date": day.isoformat(),
                "indexed": per_day[day]["indexed"] if day in per_day else 0,
                "failed": per_day[day]["failed"] if day in per_day else 0,
            }
            for day in days
        ],
        "recent_failures": failures,
    }
