"""The site's last line of error handling: a JSON body for every `/api/` error, plain pages elsewhere.

Django's `handler400/403/404/500` (set in `datacollection.urls`) call these. Whatever the settings module,
an API client never gets an HTML page, and no page shows a traceback unless the operator turned DEBUG on
(then Django's technical pages replace these for 404 and 500, by design)."""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

from .db import BUSY_MESSAGE, RETRY_AFTER_SECONDS, database_busy

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"

_MESSAGES = {
    400: ("bad_request", "The request could not be understood."),
    403: ("forbidden", "You do not have permission to do this."),
    404: ("not_found", "Nothing is here."),
    500: ("server_error", "Something went wrong on our side; it has been logged. Quote the request id."),
}


def _request_id(request: HttpRequest) -> str:
    return str(getattr(request, "request_id", "") or "-")


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def api_error(
    request: HttpRequest, status: int, *, code: str | None = None, message: str | None = None
) -> JsonResponse:
    default_code, default_message = _MESSAGES.get(status, ("error", "The request failed."))
    body = {
        "error": {
            "code": code or default_code,
            "message": message or default_message,
            "request_id": _request_id(request),
        }
    }
    return JsonResponse(body, status=status)


def _page(request: HttpRequest, status: int) -> HttpResponse:
    code, message = _MESSAGES[status]
    template = loader.select_template([f"{status}.html", "error.html"])
    context = {"status": status, "message": message, "request_id": _request_id(request)}
    return HttpResponse(template.render(context, request), status=status)


def _handler(status: int) -> Any:
    def handler(request: HttpRequest, exception: BaseException | None = None) -> HttpResponse:
        if is_api(request):
            return api_error(request, status)
        return _page(request, status)

    handler.__name__ = f"handler{status}"
    return handler


handler400 = _handler(400)
handler403 = _handler(403)
handler404 = _handler(404)


def _busy(request: HttpRequest) -> HttpResponse:
    """No database connection came free within the pool's timeout (datacollection.db): 503 with
    Retry-After, the API's JSON or a plain page."""
    if is_api(request):
        response: HttpResponse = api_error(request, 503, code="database_busy", message=BUSY_MESSAGE)
    else:
        response = HttpResponse(BUSY_MESSAGE + "\n", status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def handler500(request: HttpRequest) -> HttpResponse:
    # Django calls this while handling the exception, so sys.exc_info() is the error that got here.
    if database_busy(sys.exc_info()[1]):
        return _busy(request)
    # Django has logged the traceback already (django.request); the body names only the request id.
    if is_api(request):
        return api_error(request, 500)
    try:
        return _page(request, 500)
    except Exception:  # a failing error page must still answer something
        logger.exception("the 500 page itself failed")
        return HttpResponse(
            "Server error. Request id: " + _request_id(request), status=500, content_type="text/plain"
        )
