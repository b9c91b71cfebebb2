import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datacollection.settings.dev")

django_application = get_asgi_application()

from django.conf import settings  # noqa: E402

from datacollection.admission import RequestGate  # noqa: E402
from datacollection.body_limit import RequestBodyLimit  # noqa: E402
from datacollection.mounts import PathDispatcher  # noqa: E402

# Django, and beside it the apps of settings.ASGI_MOUNTS (the MCP server at /mcp/), behind one body limit
# and one admission gate (a refused body never waits for a slot).
application = RequestBodyLimit(
    RequestGate(
        PathDispatcher(django_application, mounts=settings.ASGI_MOUNTS),
        limit=lambda: settings.REQUEST_CONCURRENCY,
        timeout=lambda: settings.REQUEST_QUEUE_TIMEOUT,
        exempt=("/healthz",),
    ),
    max_bytes=lambda: settings.REQUEST_BODY_MAX_BYTES,
)
