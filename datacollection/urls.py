from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.documents import urls as wagtaildocs_urls

from datacollection.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("django-admin/", admin.site.urls),
    path("admin/", include(wagtailadmin_urls)),
    path("documents/", include(wagtaildocs_urls)),
    path("knowledge/", include("knowledgebase.urls")),
    path("chat/", include("chatbot.site_urls")),
    path("api/chatbot/", include("chatbot.urls")),
    path("api/schema/", SpectacularAPIView.as_view(urlconf="chatbot.api.schema_urls"), name="api-schema"),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# Wagtail's page serving catches everything else, so it comes last.
urlpatterns += [path("", include(wagtail_urls))]
