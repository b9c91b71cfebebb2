from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from knowledgebase.importing import markdown_folder_import, parent_page_resolve
from search.errors import KnowledgeError


class Command(BaseCommand):
    help = "Import a folder of Markdown as published knowledge pages (folders → sections)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path)
        parser.add_argument("--parent", default="/", help="URL path of the page to import under, e.g. /docs/")

    def handle(self, *args: Any, directory: Path, parent: str, **options: Any) -> None:
        total = sum(1 for _ in directory.rglob("*.md")) if directory.is_dir() else 0
        try:
            parent_page = parent_page_resolve(parent)
            with tqdm(total=total, unit="file", disable=options["verbosity"] == 0) as bar:
                report = markdown_folder_import(
                    directory, parent=parent_page, progress=lambda *_: bar.update()
                )
        except KnowledgeError as e:
            raise CommandError(e.message) from e
        for error in report.errors:
            self.stderr.write(self.style.WARNING(f"skipped: {error}"))
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {directory}: {report.created} created, {report.updated} updated, "
                f"{report.unchanged} unchanged, {report.sections} new sections."
            )
        )
