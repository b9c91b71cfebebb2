import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datacollection.settings.dev")

django_application = get_asgi_application()

from django.conf import settings  # noqa: E402

from datacollection.body_limit import RequestBodyLimit  # noqa: E402

application = RequestBodyLimit(django_application, max_bytes=lambda: settings.REQUEST_BODY_MAX_BYTES)
