import os
import socket

from celery import shared_task


@shared_task(name="datacollection.ping")
def ping(payload: str = "ping") -> dict[str, str]:
    """A round trip through the broker: used by /healthz-style checks and the platform tests."""

    return {"reply": payload[::-1], "worker": f"{socket.gethostname()}:{os.getpid()}"}
