from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.documents import urls as wagtaildocs_urls

from datacollection.sso.views import AdminLogoutView
from datacollection.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("django-admin/", admin.site.urls),
    # Before Wagtail's admin URLs: the admin's sign-out also ends the provider's session after an SSO sign-in.
    path("admin/logout/", AdminLogoutView.as_view()),
    path("admin/", include(wagtailadmin_urls)),
    path("documents/", include(wagtaildocs_urls)),
    # OpenID Connect sign-in; its views answer 404 while SSO is not configured (datacollection/sso).
    path("oidc/", include("datacollection.sso.urls")),
    path("knowledge/", include("knowledgebase.urls")),
    path("chat/", include("chatbot.site_urls")),
    path("api/chatbot/", include("chatbot.urls")),
    path("api/schema/", SpectacularAPIView.as_view(urlconf="chatbot.api.schema_urls"), name="api-schema"),
]

if settings.SERVE_IMAGE_RENDITIONS:
    # Only Wagtail's image renditions, public by Wagtail's design. Uploaded knowledge files live under
    # MEDIA_ROOT too and are served only through the permission-checked document views, never from here.

    urlpatterns += [
        re_path(
            r"^media/images/(?P<path>[^/]+)$",
            serve,
            {"document_root": settings.MEDIA_ROOT / "images"},
            name="image-rendition",
        )
    ]

# Wagtail's page serving catches everything else, so it comes last.
urlpatterns += [path("", include(wagtail_urls))]

handler400 = "datacollection.errors.handler400"
handler403 = "datacollection.errors.handler403"
handler404 = "datacollection.errors.handler404"
handler500 = "datacollection.errors.handler500"
