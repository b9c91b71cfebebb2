"""Who may act on a knowledge file in the admin: another user's private upload is theirs alone.

`change_knowledgedocument` let editors open (and preview, with "what the bot sees") every user's private
uploads. Now nobody but the owner may view or edit one; superusers may delete one (abuse, a legal request),
and open its file only through the audited private-access view (knowledgebase.views)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.admin.utils import unquote
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern
from wagtail.permission_policies import ModelPermissionPolicy

from knowledgebase.models import KnowledgeDocument


def others_private_q(user: Any) -> Q:
    """Private uploads that are not `user`'s."""
    return Q(audience=KnowledgeDocument.Audience.PRIVATE) & ~Q(owner_id=getattr(user, "pk", None))


def is_others_private(user: Any, document: KnowledgeDocument) -> bool:
    return document.audience == KnowledgeDocument.Audience.PRIVATE and document.owner_id != getattr(
        user, "pk", None
    )


class KnowledgeDocumentPermissionPolicy(ModelPermissionPolicy):
    def user_has_permission_for_instance(self, user: Any, action: str, instance: Any) -> bool:
        if is_others_private(user, instance):
            return bool(user.is_active and user.is_superuser and action == "delete")
        return bool(super().user_has_permission_for_instance(user, action, instance))

    def user_has_any_permission_for_instance(self, user: Any, actions: Any, instance: Any) -> bool:
        return any(self.user_has_permission_for_instance(user, action, instance) for action in actions)

    def instances_user_has_any_permission_for(self, user: Any, actions: Any) -> QuerySet[Any]:
        instances = super().instances_user_has_any_permission_for(user, actions)
        if user.is_active and user.is_superuser and "delete" in actions:
            return instances
        return instances.exclude(others_private_q(user))


def documents_listed_for(user: Any) -> QuerySet[KnowledgeDocument]:
    """The admin listing: titles of others' private uploads only for superusers (who may delete them)."""
    documents = KnowledgeDocument.objects.all()
    return documents if user.is_active and user.is_superuser else documents.exclude(others_private_q(user))


def object_views_guard(patterns: list[Any]) -> list[Any]:
    """Wagtail's generic object views (edit, preview, history, revisions, inspect, usage, ...) check the
    model permission, not the instance: each is wrapped so another user's private upload is a 404, except
    the delete view for superusers."""
    return [_guarded(p) if isinstance(p, URLPattern) and "pk" in str(p.pattern) else p for p in patterns]


def _guarded(pattern: URLPattern) -> URLPattern:
    view: Callable[..., HttpResponse] = pattern.callback
    may_delete = pattern.name == "delete"

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        document = KnowledgeDocument.objects.filter(pk=unquote(str(kwargs.get("pk", "")))).first()
        user = request.user
        if document is not None and is_others_private(user, document):
            if not (may_delete and user.is_active and user.is_superuser):
                raise Http404("No such knowledge file.")
        return view(request, *args, **kwargs)

    return URLPattern(pattern.pattern, guarded, pattern.default_args, pattern.name)
