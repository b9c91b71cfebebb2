"""What every chatbot API view shares: authentication, permissions, the error handler, pagination."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import BaseRenderer

from chatbot.admin_views.permissions import user_can_view_chat_logs

from .exceptions import api_exception_handler
from .tokens import ExpiringTokenAuthentication


class ChatPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ChatAPIMixin:
    # Token first: an anonymous request gets 401 with `WWW-Authenticate: Token`. Session authentication
    # enforces CSRF on unsafe methods. Tokens expire (chatbot.api.tokens).
    authentication_classes: Sequence[type[BaseAuthentication]] = [
        ExpiringTokenAuthentication,
        SessionAuthentication,
    ]
    permission_classes: Sequence[Any] = [IsAuthenticated]
    pagination_class: type[BasePagination] | None = ChatPagination

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Any]:
        return api_exception_handler


class CanViewChatLogs(BasePermission):
    """Anything that shows other people's questions (or indexing error text) needs the same permission as
    the admin's chat logs: `is_staff` alone let every Wagtail editor read all users' declined questions."""

    message = "You need the 'Can view chat logs' permission."

    def has_permission(self, request: Any, view: Any) -> bool:
        return user_can_view_chat_logs(request.user)


class JSONOnlyNegotiation(DefaultContentNegotiation):
    """For the SSE endpoint: its stream is not rendered by DRF, and its errors are always JSON, even when
    the client only accepts `text/event-stream` (DRF would answer 406 otherwise)."""

    def select_renderer(
        self, request: Any, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> Any:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


def request_user(request: Any) -> Any:
    """The signed-in user (every chatbot view requires authentication, so never AnonymousUser here)."""
    return request.user
