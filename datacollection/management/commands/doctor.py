from typing import Any

from django.core.management.base import BaseCommand, CommandError

from datacollection.health import health_report


class Command(BaseCommand):
    help = "Check the database, cache, broker, search engine and worker, as /healthz does."

    def handle(self, *args: Any, **options: Any) -> None:
        report = health_report()
        width = max(len(c.name) for c in report.components)
        for c in report.components:
            style = self.style.SUCCESS if c.ok else (self.style.ERROR if c.required else self.style.WARNING)
            flag = "" if c.required else " (optional)"
            self.stdout.write(f"{c.name.ljust(width)}  {style(c.status)}{flag}  [{c.elapsed_ms:.0f} ms]")
        if not report.healthy:
            raise CommandError("one or more required components failed")
        self.stdout.write(self.style.SUCCESS("all required components are healthy"))
