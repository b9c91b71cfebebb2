"""The analytics dashboard: questions, satisfaction, latency, tokens, cache and error rates, content gaps
and document processing, for the last 7, 30 or 90 days."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from django.views.generic import TemplateView
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from chatbot.admin_views import charts
from chatbot.admin_views.permissions import forbidden, user_can_view_chat_logs
from chatbot.feedback.selectors import analytics_summary

PERIODS = (7, 30, 90)


class DashboardView(WagtailAdminTemplateMixin, TemplateView):
    template_name = "chatbot/admin/dashboard.html"
    page_title = "Chat analytics"
    header_icon = "pick"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not user_can_view_chat_logs(request.user):
            return forbidden(request, what="chat analytics")
        return super().dispatch(request, *args, **kwargs)

    @property
    def days(self) -> int:
        raw = self.request.GET.get("days", "")
        return int(raw) if raw.isdigit() and int(raw) in PERIODS else 30

    def get_breadcrumbs_items(self) -> list[dict[str, Any]]:
        return [*self.breadcrumbs_items, {"url": "", "label": self.page_title}]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        until = timezone.now()
        summary = analytics_summary(since=until - timedelta(days=self.days), until=until)
        context.update(
            summary=summary,
            days=self.days,
            periods=PERIODS,
            cards=_cards(summary),
            charts=_charts(summary),
            latency_rows=[
                {"stage": label, **summary["latency"][key]}
                for key, label in (
                    ("retrieval", "Retrieval"),
                    ("first_token", "First token"),
                    ("total", "Total"),
                )
            ],
        )
        return context


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _cards(summary: dict[str, Any]) -> list[dict[str, str]]:
    total = summary["latency"]["total"]["p95"]
    per_answer = summary["tokens"]["per_answer"]
    return [
        {"label": "Questions", "value": str(summary["questions"])},
        {"label": "Satisfaction", "value": _ratio(summary["feedback"]["satisfaction"]),
         "detail": f"{summary['feedback']['up']} helpful · {summary['feedback']['down']} not helpful"},
        {"label": "Answer time p95", "value": "–" if total is None else charts.seconds_format(total)},
        {"label": "Cache hit rate", "value": _ratio(summary["cache_hit_rate"])},
        {"label": "Error rate", "value": _ratio(summary["error_rate"])},
        {"label": "Declined", "value": _ratio(summary["declined_rate"])},
        {"label": "Answer quality", "value": _score(summary["quality"]["mean"]),
         "detail": f"{summary['quality']['low']} of {summary['quality']['scored']} below "
                   f"{summary['quality']['low_below']:.2f}"},
        {"label": "Tokens", "value": charts.number_format(summary["tokens"]["total"]),
         "detail": "–" if per_answer is None else f"{per_answer:.0f} per answer"},
        {"label": "Indexing failures", "value": str(summary["indexing"]["failed"]),
         "detail": f"of {summary['indexing']['jobs']} jobs"},
    ]  # fmt: skip


def _short(day: str) -> str:
    return date.fromisoformat(day).strftime("%-d %b")


def _charts(summary: dict[str, Any]) -> dict[str, Any]:
    questions = summary["questions_per_day"]
    satisfaction = summary["satisfaction_per_day"]
    indexing = summary["indexing"]["per_day"]
    latency = summary["latency"]
    stages = ["Retrieval", "First token", "Total"]
    percentiles = [
        charts.Series(
            name=p, values=[latency[k][p.lower()] for k in ("retrieval", "first_token", "total")], tone=tone
        )
        for p, tone in (("P50", "info"), ("P95", "primary"), ("P99", "critical"))
    ]
    indexing_series = [
        charts.Series(name="Indexed", values=[d["indexed"] for d in indexing], tone="positive"),
        charts.Series(name="Failed", values=[d["failed"] for d in indexing], tone="critical"),
    ]
    return {
        "questions": charts.bar_chart(
            [_short(d["date"]) for d in questions],
            [charts.Series(name="Questions", values=[d["count"] for d in questions])],
            title="Questions per day",
        ),
        "satisfaction": charts.line_chart(
            [_short(d["date"]) for d in satisfaction],
            [
                charts.Series(
                    name="Satisfied", values=[d["satisfaction"] for d in satisfaction], tone="positive"
                )
            ],
            title="Satisfaction per day",
            y_max=1.0,
            y_format=charts.percent_format,
        ),
        "latency": charts.bar_chart(
            stages, percentiles, title="Latency percentiles", y_format=charts.seconds_format
        ),
        "latency_legend": charts.legend(percentiles),
        "indexing": charts.bar_chart(
            [_short(d["date"]) for d in indexing],
            indexing_series,
            title="Indexing jobs per day",
            stacked=True,
        ),
        "indexing_legend": charts.legend(indexing_series),
    }
