from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods

from datacollection.storage import private_file_response
from knowledgebase.audit import document_download_log
from knowledgebase.models import KnowledgeDocument
from knowledgebase.selectors import document_readable_by


def _readable_document(request: HttpRequest, document_id: int) -> KnowledgeDocument:
    document = get_object_or_404(KnowledgeDocument, pk=document_id)
    if not document_readable_by(request.user, document):
        # 404 rather than 403: do not reveal that a document exists.
        raise Http404("No such document.")
    return document


def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    document = _readable_document(request, document_id)
    page_number = request.GET.get("page")
    return render(
        request,
        "knowledgebase/document_detail.html",
        {
            "document": document,
            "download_url": f"{document.get_url()}download/",
            "page_number": int(page_number) if page_number and page_number.isdigit() else None,
        },
    )


def document_download(request: HttpRequest, document_id: int) -> HttpResponseBase:
    document = _readable_document(request, document_id)
    document_download_log(document, user=request.user)
    return private_file_response(document.file.open("rb"), filename=document.filename)


@require_http_methods(["GET", "POST"])
def document_private_access(request: HttpRequest, document_id: int) -> HttpResponseBase:
    """A superuser's download of another user's private file: only with a stated reason, which the audit
    log keeps (Reports › Site history). Everyone else gets the same 404 as for a missing document."""
    user = request.user
    document = get_object_or_404(KnowledgeDocument, pk=document_id)
    if not (user.is_authenticated and user.is_active and user.is_superuser):
        raise Http404("No such document.")
    reason = request.POST.get("reason", "").strip()[:500] if request.method == "POST" else ""
    if not reason:
        status = 400 if request.method == "POST" else 200
        return render(request, "knowledgebase/private_access.html", {"document": document}, status=status)
    document_download_log(document, user=user, reason=reason)
    return private_file_response(document.file.open("rb"), filename=document.filename)
