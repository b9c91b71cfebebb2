"""Reports › Improvement reports: the weekly feedback reports (other users' questions, restricted titles)
listed and downloaded by readers of chat logs only. The files live in PRIVATE_ROOT, never under a served
folder (they used to land in MEDIA_ROOT/reports/)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse

from chatbot.admin_views.permissions import forbidden, user_can_view_chat_logs
from datacollection.encryption import file_decrypt
from datacollection.storage import private_file_response

# Only names the report writer produces: nothing else in the folder, and no path can be smuggled in.
REPORT_NAME = re.compile(r"feedback-\d{4}-\d{2}-\d{2}\.(md|csv)")


def report_directory() -> Path:
    return Path(settings.PRIVATE_ROOT) / settings.CHAT_FEEDBACK_REPORT_DIR


def report_files() -> list[dict[str, Any]]:
    directory = report_directory()
    if not directory.is_dir():
        return []
    files = [p for p in directory.iterdir() if p.is_file() and REPORT_NAME.fullmatch(p.name)]
    return [{"name": p.name, "size": p.stat().st_size} for p in sorted(files, reverse=True)]


def report_files_view(request: HttpRequest) -> HttpResponse:
    if not user_can_view_chat_logs(request.user):
        return forbidden(request, what="improvement reports")
    context = {
        "files": report_files(),
        "page_title": "Improvement reports",
        "header_title": "Improvement reports",
    }
    return TemplateResponse(request, "chatbot/admin/report_files.html", context)


def report_file_download(request: HttpRequest, name: str) -> HttpResponseBase:
    if not user_can_view_chat_logs(request.user):
        return forbidden(request, what="improvement reports")
    path = report_directory() / name
    if not REPORT_NAME.fullmatch(name) or not path.is_file():
        raise Http404("No such report.")
    return private_file_response(io.BytesIO(file_decrypt(path.read_bytes())), filename=name)
