"""Reports › Answer feedback by page: cited pages and documents, worst first, filterable by the date of
the answer, section, kind and resolution; exportable to CSV and XLSX like Wagtail's own reports."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils.functional import cached_property
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.views.reports import ReportView
from wagtail.admin.widgets import AdminDateInput
from wagtail.models import Page

from chatbot.admin_views.permissions import forbidden
from chatbot.feedback.selectors import (
    SHOW_ALL,
    SHOW_NEGATIVE,
    SHOW_OPEN,
    citation_rollups,
    cited_answers,
    source_rollups_decorate,
    user_may_review_feedback,
)
from chatbot.models import MessageSource
from knowledgebase.models import KnowledgeIndexPage


def _sections(request: Any) -> QuerySet[Page]:
    return Page.objects.type(KnowledgeIndexPage).order_by("path")


class FeedbackReportFilterSet(WagtailFilterSet):
    answered_after = django_filters.DateFilter(
        label="Answered on or after",
        field_name="message__created_at",
        lookup_expr="date__gte",
        widget=AdminDateInput,
    )
    answered_before = django_filters.DateFilter(
        label="Answered on or before",
        field_name="message__created_at",
        lookup_expr="date__lte",
        widget=AdminDateInput,
    )
    section = django_filters.ModelChoiceFilter(
        label="Section", queryset=_sections, method="filter_section", empty_label="All sections"
    )
    source_type = django_filters.ChoiceFilter(
        label="Kind",
        choices=[("page", "Pages"), ("document", "Documents")],
        empty_label="Pages and documents",
    )
    show = django_filters.ChoiceFilter(
        label="Show",
        choices=[
            (SHOW_NEGATIVE, "All not helpful, including resolved, and low quality"),
            (SHOW_ALL, "Every cited source"),
        ],
        empty_label="Unresolved not helpful or low quality",
        method="filter_nothing",  # applied after aggregation, in the view
    )

    class Meta:
        model = MessageSource
        fields = ["answered_after", "answered_before", "section", "source_type", "show"]

    def filter_section(
        self, queryset: QuerySet[MessageSource], name: str, value: Page
    ) -> QuerySet[MessageSource]:
        below = Page.objects.descendant_of(value, inclusive=True).values("id")
        return queryset.filter(source_type="page", source_id__in=below)

    def filter_nothing(
        self, queryset: QuerySet[MessageSource], name: str, value: Any
    ) -> QuerySet[MessageSource]:
        return queryset


class FeedbackReportView(ReportView):
    page_title = "Answer feedback by page"
    header_icon = "comment"
    results_template_name = "chatbot/admin/feedback_report_results.html"
    filterset_class = FeedbackReportFilterSet
    index_url_name = "chatbot_feedback_report"
    index_results_url_name = "chatbot_feedback_report_results"
    export_filename = "answer-feedback-by-page"
    verbose_name = "cited page or document"
    verbose_name_plural = "cited pages and documents"
    paginate_by = 50
    list_export = [
        "title",
        "kind",
        "section",
        "answers",
        "up",
        "down",
        "open_down",
        "satisfaction",
        "last_feedback_at",
        "key",
    ]
    export_headings = {
        "title": "Title",
        "kind": "Kind",
        "section": "Section",
        "answers": "Answers citing it",
        "up": "Thumbs up",
        "down": "Thumbs down",
        "open_down": "Unresolved thumbs down",
        "satisfaction": "Satisfaction",
        "last_feedback_at": "Last feedback",
        "key": "Source",
    }

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if not user_may_review_feedback(request.user):
            return forbidden(request, what="answer feedback")
        return super().dispatch(request, *args, **kwargs)

    @cached_property
    def show(self) -> str:
        filters = self.filters
        if filters is not None and filters.is_valid():
            return str(filters.form.cleaned_data.get("show") or SHOW_OPEN)
        return SHOW_OPEN

    def get_queryset(self) -> QuerySet[MessageSource]:
        return cited_answers()

    def get_filtered_queryset(self) -> Any:
        citations = self.filter_queryset(self.get_queryset())
        return citation_rollups(citations, show=self.show, user=self.request.user)

    def decorate_paginated_queryset(self, object_list: Any) -> list[dict[str, Any]]:
        return source_rollups_decorate(object_list)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["show"] = self.show
        context["next_url"] = self.request.get_full_path().replace("/results/", "/", 1)
        return context
