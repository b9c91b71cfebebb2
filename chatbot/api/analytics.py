"""Reads for the feedback analytics endpoint: answers given and how they were rated."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from chatbot.models import Message, MessageFeedback


def feedback_summary(*, days: int) -> dict[str, Any]:
    """Totals over all time; per-day counts of answers and ratings for the last `days` days."""
    answers = Message.objects.filter(role=Message.Role.ASSISTANT)
    ratings = MessageFeedback.objects.aggregate(
        up=Count("pk", filter=Q(rating=MessageFeedback.Rating.UP)),
        down=Count("pk", filter=Q(rating=MessageFeedback.Rating.DOWN)),
    )
    up, down = ratings["up"], ratings["down"]
    since = timezone.now() - timedelta(days=days)
    per_day: dict[Any, dict[str, Any]] = {}
    for row in (
        answers.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(answers=Count("pk"))
    ):
        per_day[row["day"]] = {"day": row["day"], "answers": row["answers"], "up": 0, "down": 0}
    for rating in (
        MessageFeedback.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day", "rating")
        .annotate(count=Count("pk"))
    ):
        entry = per_day.setdefault(rating["day"], {"day": rating["day"], "answers": 0, "up": 0, "down": 0})
        entry[rating["rating"]] = rating["count"]
    return {
        "days": days,
        "total_answers": answers.count(),
        "up": up,
        "down": down,
        "satisfaction_rate": round(up / (up + down), 4) if up + down else None,
        "per_day": [per_day[day] for day in sorted(per_day)],
    }
