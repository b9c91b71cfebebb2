"""Reads of answer feedback per cited source (page or document): roll-ups for the report, the edit-view
panel and the improvement report, and the recent comments with their question and answer.

Periods filter on when the answer was given; `since` is inclusive, `until` exclusive. An answer that
cites a source twice counts once for it; each user's rating of an answer counts once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Avg, Count, Max, OuterRef, Q, QuerySet, Subquery
from wagtail.admin.admin_url_finder import AdminURLFinder
from wagtail.models import Page
from wagtail.permission_policies.pages import PagePermissionPolicy

from chatbot.feedback.analytics import analytics_summary, question_normalize
from chatbot.models import Message, MessageFeedback, MessageSource
from chatbot.rag.quality import LOW_SCORE
from knowledgebase.selectors import sources_by_key

__all__ = [
    "FeedbackItem",
    "SourceFeedback",
    "analytics_summary",
    "cited_answers",
    "citation_rollups",
    "feedback_items_for_source",
    "question_normalize",
    "source_feedback",
    "source_rollups",
    "source_rollups_decorate",
    "user_can_review_source",
    "user_may_review_feedback",
]

SHOW_OPEN = "open"  # sources with unresolved thumbs-down or low-quality answers
SHOW_NEGATIVE = "negative"  # sources with any thumbs-down, resolved or not, or low-quality answers
SHOW_ALL = "all"  # every cited source

_DOWN = Q(message__feedback__rating=MessageFeedback.Rating.DOWN)
_UP = Q(message__feedback__rating=MessageFeedback.Rating.UP)
# Answers whose quality score (chatbot.rag.quality) is low: weak pages show before users complain.
_LOW = Q(message__quality__lt=LOW_SCORE)


@dataclass(frozen=True, kw_only=True)
class FeedbackItem:
    feedback_id: int
    message_id: int
    rating: str
    comment: str
    question: str
    answer: str
    created_at: datetime
    resolved: bool
    resolved_at: datetime | None
    resolved_by: str
    user: str


@dataclass(frozen=True, kw_only=True)
class SourceFeedback:
    source_type: str
    source_id: int
    answers: int
    up: int
    down: int
    open_down: int
    satisfaction: float | None
    recent: list[FeedbackItem]


def satisfaction_rate(up: int, down: int) -> float | None:
    return up / (up + down) if up + down else None


def cited_answers(*, since: datetime | None = None, until: datetime | None = None) -> QuerySet[MessageSource]:
    """Citations of answers given in [since, until): the rows roll-ups aggregate."""
    citations = MessageSource.objects.filter(message__role=Message.Role.ASSISTANT)
    if since is not None:
        citations = citations.filter(message__created_at__gte=since)
    if until is not None:
        citations = citations.filter(message__created_at__lt=until)
    return citations


def source_rollups(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    section: Page | None = None,
    source_type: str = "",
    show: str = SHOW_OPEN,
    user: Any = None,
) -> Any:
    """One row per cited source: source_type, source_id, answers, up, down, open_down, low_quality (answers
    scoring below chatbot.rag.quality.LOW_SCORE), mean_quality, title (as cited), last_feedback_at; worst
    first. `section` keeps pages below that page (documents drop out); `user`
    keeps the sources that user may edit."""
    citations = cited_answers(since=since, until=until)
    if source_type:
        citations = citations.filter(source_type=source_type)
    if section is not None:
        below = Page.objects.descendant_of(section, inclusive=True).values("id")
        citations = citations.filter(source_type="page", source_id__in=Subquery(below))
    return citation_rollups(citations, show=show, user=user)


def citation_rollups(citations: QuerySet[MessageSource], *, show: str = SHOW_OPEN, user: Any = None) -> Any:
    """`citations` (already filtered) aggregated per source, worst first; see `source_rollups`."""
    if user is not None:
        citations = citations.filter(_editable_by(user))
    rows = (
        citations.values("source_type", "source_id")
        .annotate(
            answers=Count("message", distinct=True),
            up=Count("message__feedback", filter=_UP, distinct=True),
            down=Count("message__feedback", filter=_DOWN, distinct=True),
            open_down=Count(
                "message__feedback", filter=_DOWN & Q(message__feedback__resolved=False), distinct=True
            ),
            low_quality=Count("message", filter=_LOW, distinct=True),
            mean_quality=Avg("message__quality"),
            title=Max("title"),
            last_feedback_at=Max("message__feedback__created_at"),
        )
        .order_by("-open_down", "-down", "-low_quality", "-answers", "source_type", "source_id")
    )
    if show == SHOW_OPEN:
        rows = rows.filter(Q(open_down__gt=0) | Q(low_quality__gt=0))
    elif show == SHOW_NEGATIVE:
        rows = rows.filter(Q(down__gt=0) | Q(low_quality__gt=0))
    return rows


def user_may_review_feedback(user: Any) -> bool:
    """Who sees the report: editors of some page or of documents, and readers of chat logs."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    if user.is_superuser or user.has_perm("chatbot.view_chat_logs"):
        return True
    if user.has_perm("knowledgebase.change_knowledgedocument"):
        return True

    return bool(PagePermissionPolicy().user_has_any_permission(user, ["add", "change", "publish"]))


def _editable_by(user: Any) -> Q:
    if user.is_superuser or user.has_perm("chatbot.view_chat_logs"):
        return Q()

    pages = PagePermissionPolicy().instances_user_has_permission_for(user, "change").values("id")
    editable = Q(source_type="page", source_id__in=Subquery(pages))
    if user.has_perm("knowledgebase.change_knowledgedocument"):
        editable |= Q(source_type="document")
    return editable


def source_rollups_decorate(rows: Any) -> list[dict[str, Any]]:
    """Rows of `source_rollups` with the source's current title, section, satisfaction and admin URLs."""

    rows = [dict(row) for row in rows]
    found = sources_by_key((row["source_type"], row["source_id"]) for row in rows)
    parents = Page.objects.in_bulk(
        {s.path[: -Page.steplen] for s in found.values() if isinstance(s, Page) and s.depth > 1},
        field_name="path",
    )
    finder = AdminURLFinder()
    for row in rows:
        source: Any = found.get((row["source_type"], row["source_id"]))
        row["exists"] = source is not None
        row["title"] = str(
            getattr(source, "title", "") or row["title"] or f"{row['source_type']} {row['source_id']}"
        )
        parent = parents.get(source.path[: -Page.steplen]) if isinstance(source, Page) else None
        row["section"] = parent.title if parent is not None else ""
        row["kind"] = "Page" if row["source_type"] == "page" else "Document"
        row["satisfaction"] = satisfaction_rate(row["up"], row["down"])
        row["edit_url"] = finder.get_edit_url(source) if source is not None else ""
        row["key"] = f"{row['source_type']}:{row['source_id']}"
    return rows


def source_feedback(
    source_type: str,
    source_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    recent: int = 5,
    include_resolved: bool = False,
    with_user: bool = False,
) -> SourceFeedback:
    """The roll-up of one source and its most recent rated answers that have a comment."""
    citations = cited_answers(since=since, until=until).filter(source_type=source_type, source_id=source_id)
    totals = citations.aggregate(
        answers=Count("message", distinct=True),
        up=Count("message__feedback", filter=_UP, distinct=True),
        down=Count("message__feedback", filter=_DOWN, distinct=True),
        open_down=Count(
            "message__feedback", filter=_DOWN & Q(message__feedback__resolved=False), distinct=True
        ),
    )
    return SourceFeedback(
        source_type=source_type,
        source_id=source_id,
        satisfaction=satisfaction_rate(totals["up"], totals["down"]),
        recent=feedback_items_for_source(
            source_type,
            source_id,
            since=since,
            until=until,
            limit=recent,
            include_resolved=include_resolved,
            with_user=with_user,
        ),
        **totals,
    )


def feedback_for_source(
    source_type: str, source_id: int, *, since: datetime | None = None, until: datetime | None = None
) -> QuerySet[MessageFeedback]:
    """Feedback on answers that cite the source."""
    cited = cited_answers(since=since, until=until).filter(source_type=source_type, source_id=source_id)
    return MessageFeedback.objects.filter(message_id__in=Subquery(cited.values("message_id")))


def feedback_with_question(feedback: QuerySet[MessageFeedback]) -> QuerySet[MessageFeedback]:
    """Annotates `question`: the user's message right before the rated answer in its session."""
    question = Message.objects.filter(
        session_id=OuterRef("message__session_id"), role=Message.Role.USER, id__lt=OuterRef("message_id")
    ).order_by("-id")
    return feedback.annotate(question=Subquery(question.values("content")[:1]))


def feedback_items_for_source(
    source_type: str,
    source_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 5,
    include_resolved: bool = False,
    with_user: bool = False,
) -> list[FeedbackItem]:
    """The newest commented feedback on answers citing the source; thumbs-down first among equals."""
    feedback = feedback_for_source(source_type, source_id, since=since, until=until).exclude(comment="")
    if not include_resolved:
        feedback = feedback.filter(resolved=False)
    feedback = feedback_with_question(feedback).select_related("message", "user", "resolved_by")
    return [
        FeedbackItem(
            feedback_id=item.pk,
            message_id=item.message_id,
            rating=item.rating,
            comment=item.comment,
            question=item.question or "",  # type: ignore[attr-defined]
            answer=item.message.content,
            created_at=item.created_at,
            resolved=item.resolved,
            resolved_at=item.resolved_at,
            resolved_by=item.resolved_by.get_username() if item.resolved_by else "",
            user=item.user.get_username() if with_user else "",
        )
        for item in feedback.order_by("-created_at", "rating")[:limit]
    ]


def user_can_review_source(user: Any, source_type: str, source_id: int) -> bool:
    """Editors of a page or document may see and resolve the feedback on answers citing it."""
    if not (user and user.is_authenticated):
        return False
    if source_type == "page":
        page = Page.objects.filter(pk=source_id).first()
        return page is not None and page.permissions_for_user(user).can_edit()
    if source_type == "document":
        return bool(user.has_perm("knowledgebase.change_knowledgedocument"))
    return False
