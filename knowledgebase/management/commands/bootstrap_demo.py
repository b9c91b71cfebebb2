import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from knowledgebase.models import KnowledgePage


class Command(BaseCommand):
    help = "Load the demo knowledge (Wagtail's documentation) once, for `make run`."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--docs", type=Path, default=settings.DEMO_DOCS_DIR)
        parser.add_argument("--parent", default="/docs/")

    def handle(self, *args: Any, docs: Path, parent: str, **options: Any) -> None:
        if KnowledgePage.objects.exclude(source_path="").exists():
            self.stdout.write("Demo knowledge is loaded already (re-import with manage.py import_markdown).")
            return
        if not docs.is_dir():
            self.stdout.write(
                self.style.WARNING(f"No demo documents at {docs}; starting with an empty knowledge base.")
            )
            return
        self.stdout.write(f"Importing and indexing the demo knowledge from {docs} (first start only) …")
        started = time.perf_counter()
        call_command("import_markdown", str(docs), parent=parent, verbosity=options["verbosity"])
        count = KnowledgePage.objects.live().count()
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {count} pages in {elapsed:.0f} s "
                f"({count / max(elapsed, 1e-9) * 60:.0f} pages/minute)."
            )
        )
