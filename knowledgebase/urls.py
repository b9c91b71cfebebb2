from django.urls import path

from knowledgebase import views

app_name = "knowledgebase"

urlpatterns = [
    path("documents/<int:document_id>/", views.document_detail, name="document"),
    path("documents/<int:document_id>/download/", views.document_download, name="document_download"),
    path(
        "documents/<int:document_id>/private-access/",
        views.document_private_access,
        name="document_private_access",
    ),
]
