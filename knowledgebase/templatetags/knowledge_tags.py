"""`{% import_progress %}`: the background import's progress, on the home page and the admin dashboard."""

from __future__ import annotations

from typing import Any

from django import template

from knowledgebase.selectors import import_progress as import_progress_select

register = template.Library()


@register.inclusion_tag("knowledgebase/_import_progress.html")
def import_progress() -> dict[str, Any]:
    return {"progress": import_progress_select()}


@register.filter
def duration(seconds: float | None) -> str:
    """'about 2 min' / 'under a minute' for an ETA."""
    if seconds is None:
        return "a moment"
    if seconds < 60:
        return "under a minute"
    return f"about {round(seconds / 60)} min"
