from typing import Any

from django.core.management.base import BaseCommand

from knowledgebase.services import jobs_recover


class Command(BaseCommand):
    help = (
        "Re-queue indexing jobs and imports that a stopped worker left processing (or fail them as poison "
        "after repeated deaths). Run it before starting the only worker, as `make run` does."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        counts = jobs_recover()
        if any(counts.values()):
            self.stdout.write(
                f"Recovered after a stop: {counts['requeued']} jobs re-queued, {counts['poisoned']} failed "
                f"as poison, {counts['imports']} imports resumed."
            )
