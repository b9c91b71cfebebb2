from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledgebase.importing import ImportError_, import_run_start
from knowledgebase.models import ImportRun, KnowledgePage


class Command(BaseCommand):
    help = (
        "Queue the demo knowledge (DEMO_DOCS_DIR, by default this product's own guide in docs/) for a "
        "background import, once. Returns at once: the worker imports and indexes it while the site serves."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--docs", type=Path, default=settings.DEMO_DOCS_DIR)
        parser.add_argument("--parent", default="/docs/")

    def handle(self, *args: Any, docs: Path, parent: str, **options: Any) -> None:
        if ImportRun.objects.exists() or KnowledgePage.objects.exclude(source_path="").exists():
            self.stdout.write(
                "Demo knowledge is loaded or loading already (re-import with manage.py import_markdown)."
            )
            return
        if not docs.is_dir():
            self.stdout.write(
                self.style.WARNING(f"No demo documents at {docs}; starting with an empty knowledge base.")
            )
            return
        try:
            run = import_run_start(docs, parent_path=parent)
        except ImportError_ as e:
            raise CommandError(e.message) from e
        self.stdout.write(
            f"Importing {run.files_total} demo pages from {docs} in the background; "
            "the home page and the admin dashboard show the progress."
        )
