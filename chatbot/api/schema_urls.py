"""The URLs the OpenAPI schema documents: the chatbot API only (not Wagtail's internal admin API).

path("api/schema/", SpectacularAPIView.as_view(urlconf="chatbot.api.schema_urls"))
./manage.py spectacular --urlconf chatbot.api.schema_urls --validate --fail-on-warn
"""

from django.urls import include, path

urlpatterns = [path("api/chatbot/", include("chatbot.urls"))]
