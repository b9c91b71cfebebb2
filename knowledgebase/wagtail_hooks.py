"""Admin integration: the document snippet with its workflow, "what the bot sees", indexing jobs."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.urls import path, reverse
from wagtail import hooks
from wagtail.admin.ui.components import Component
from wagtail.admin.ui.tables import Column, StatusTagColumn
from wagtail.admin.views.generic import IndexView
from wagtail.admin.viewsets.model import ModelViewSet
from wagtail.admin.widgets import Button
from wagtail.permissions import register_permission_policy
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import SnippetViewSet

from knowledgebase import admin_views
from knowledgebase.audit import register_knowledge_log_actions
from knowledgebase.index_audit import index_audit_last
from knowledgebase.models import IndexingJob, KnowledgeDocument, KnowledgePage
from knowledgebase.permissions import (
    KnowledgeDocumentPermissionPolicy,
    documents_listed_for,
    object_views_guard,
)
from knowledgebase.selectors import import_progress


class KnowledgeDocumentViewSet(SnippetViewSet):
    model = KnowledgeDocument
    icon = "doc-full"
    menu_label = "Knowledge files"
    menu_order = 250
    add_to_admin_menu = True
    list_display = ["title", "kind", "owner", "audience", Column("updated_at", label="Updated"), "live"]
    list_filter = ["kind", "audience", "live"]
    search_fields = ["title", "description"]

    def get_queryset(self, request: Any) -> Any:
        return documents_listed_for(request.user)

    def get_urlpatterns(self) -> list[Any]:
        return object_views_guard(super().get_urlpatterns())


class IndexingJobIndexView(IndexView):
    """The jobs, headed by the last index audit's result (knowledgebase/index_audit.py)."""

    template_name = "knowledgebase/admin/indexing_jobs_index.html"

    @cached_property
    def index_audit(self) -> dict[str, Any] | None:
        return index_audit_last()


class IndexingJobViewSet(ModelViewSet):
    model = IndexingJob
    index_view_class = IndexingJobIndexView
    index_template_name = "knowledgebase/admin/indexing_jobs_index.html"
    icon = "tasks"
    menu_label = "Indexing jobs"
    menu_order = 260
    add_to_admin_menu = True
    inspect_view_enabled = True
    list_display = [
        "__str__",
        StatusTagColumn("status", primary=lambda job: job.status in {"indexed", "removed"}),
        "reason",
        "progress_done",
        "progress_total",
        "error",
        Column("created_at", label="Queued"),
    ]
    list_filter = ["status", "source_type", "queue"]
    form_fields = ["status"]
    permission_policy_actions = ["view"]
    copy_view_enabled = False

    def get_urlpatterns(self) -> list[Any]:
        # Read-only: jobs are written by the pipeline, never by hand.
        return [p for p in super().get_urlpatterns() if p.name in {"index", "index_results", "inspect"}]

    def get_common_view_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        # The views must not link to the views dropped above: Wagtail reverses "add", "edit" and
        # "delete" for a user who has those permissions (a superuser), which raised NoReverseMatch.
        view_kwargs = super().get_common_view_kwargs(**kwargs)
        for name in (
            "add_url_name",
            "edit_url_name",
            "delete_url_name",
            "history_url_name",
            "usage_url_name",
        ):
            view_kwargs[name] = None
        return view_kwargs


register_permission_policy(KnowledgeDocument, KnowledgeDocumentPermissionPolicy(KnowledgeDocument))
register_snippet(KnowledgeDocumentViewSet)


hooks.register("register_log_actions", register_knowledge_log_actions)


@hooks.register("register_admin_viewset")
def register_indexing_jobs() -> IndexingJobViewSet:
    return IndexingJobViewSet("indexing_jobs")


@hooks.register("register_admin_urls")
def knowledge_admin_urls() -> list[Any]:
    return [
        path(
            "knowledge/<str:source_type>/<int:source_id>/chunks/",
            admin_views.source_chunks_view,
            name="knowledge_chunks",
        ),
        path(
            "knowledge/<str:source_type>/<int:source_id>/reindex/",
            admin_views.source_reindex_view,
            name="knowledge_reindex",
        ),
    ]


@hooks.register("register_page_header_buttons")
def what_the_bot_sees_page_button(page: Any, user: Any, view_name: str, next_url: str | None = None) -> Any:
    if isinstance(page.specific_deferred, KnowledgePage) and page.permissions_for_user(user).can_edit():
        yield Button(
            "What the bot sees",
            reverse("knowledge_chunks", args=["page", page.pk]),
            icon_name="view",
            priority=80,
        )


@hooks.register("register_snippet_listing_buttons")
def what_the_bot_sees_document_button(snippet: Any, user: Any, next_url: str | None = None) -> Any:
    if isinstance(snippet, KnowledgeDocument):
        yield Button(
            "What the bot sees",
            reverse("knowledge_chunks", args=["document", snippet.pk]),
            icon_name="view",
            priority=80,
        )


class ImportProgressPanel(Component):
    """The background import's progress on the admin dashboard, until every page is indexed."""

    name = "import_progress"
    order = 50
    template_name = "knowledgebase/admin/import_progress_panel.html"

    def get_context_data(self, parent_context: Any = None) -> dict[str, Any]:
        return {"progress": import_progress()}


@hooks.register("construct_homepage_panels")
def import_progress_panel(request: Any, panels: list[Any]) -> None:
    if import_progress() is not None:
        panels.insert(0, ImportProgressPanel())
