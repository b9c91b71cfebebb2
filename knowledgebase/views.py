from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from knowledgebase.audit import document_download_log
from knowledgebase.models import KnowledgeDocument
from knowledgebase.selectors import document_visible_to, user_can_edit_document
from search.values import Principal


def _visible_document(request: HttpRequest, document_id: int) -> KnowledgeDocument:
    document = get_object_or_404(KnowledgeDocument, pk=document_id)
    if not (
        document_visible_to(document, Principal.from_user(request.user))
        or user_can_edit_document(request.user, document)
    ):
        # 404 rather than 403: do not reveal that a document exists.
        raise Http404("No such document.")
    return document


def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    document = _visible_document(request, document_id)
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


def document_download(request: HttpRequest, document_id: int) -> FileResponse:
    document = _visible_document(request, document_id)
    document_download_log(document, user=request.user)
    return FileResponse(document.file.open("rb"), as_attachment=True, filename=document.filename)
