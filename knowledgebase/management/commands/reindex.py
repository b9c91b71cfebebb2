from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from knowledgebase import services
from knowledgebase.models import IndexingJob
from knowledgebase.models.indexing import SourceType
from search.errors import KnowledgeError


class Command(BaseCommand):
    help = (
        "Re-index knowledge now, in this process, with a progress bar. --all --rebuild writes a new index "
        "and switches to it atomically (needed after changing the embedding model); --queue uses Celery."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--all", action="store_true", help="every live page and document")
        target.add_argument("--page", type=int, metavar="ID")
        target.add_argument("--document", type=int, metavar="ID")
        parser.add_argument("--rebuild", action="store_true", help="with --all: into a new index, then swap")
        parser.add_argument("--queue", action="store_true", help="enqueue on the bulk queue instead")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rebuild"] and not options["all"]:
            raise CommandError("--rebuild goes with --all.")
        try:
            if options["rebuild"]:
                self._rebuild(options)
            elif options["queue"]:
                self._enqueue(options)
            else:
                self._run(options)
        except KnowledgeError as e:
            raise CommandError(e.message) from e

    def _targets(self, options: dict[str, Any]) -> list[tuple[str, int]]:
        if options["page"]:
            return [(SourceType.PAGE, options["page"])]
        if options["document"]:
            return [(SourceType.DOCUMENT, options["document"])]
        return services.live_sources()

    def _enqueue(self, options: dict[str, Any]) -> None:
        targets = self._targets(options)
        for source_type, source_id in targets:
            services.indexing_job_enqueue(source_type, source_id, reason="manage.py reindex", queue="bulk")
        self.stdout.write(self.style.SUCCESS(f"Queued {len(targets)} source(s) on the bulk queue."))

    def _run(self, options: dict[str, Any]) -> None:
        targets = self._targets(options)
        failed = 0
        with tqdm(targets, unit="source", disable=options["verbosity"] == 0) as bar:
            for source_type, source_id in bar:
                job = IndexingJob.objects.create(
                    source_type=source_type, source_id=source_id, reason="manage.py reindex", queue="bulk"
                )
                job = services.source_sync(job)
                if job.status == IndexingJob.Status.FAILED:
                    failed += 1
                    self.stderr.write(f"{source_type}:{source_id} failed: {job.error}")
        style = self.style.WARNING if failed else self.style.SUCCESS
        self.stdout.write(style(f"Re-indexed {len(targets) - failed} of {len(targets)} source(s)."))

    def _rebuild(self, options: dict[str, Any]) -> None:
        with tqdm(unit="source", disable=options["verbosity"] == 0) as bar:
            report = services.index_rebuild(progress=lambda done, total: bar.update(1) and None)
        self.stdout.write(
            self.style.SUCCESS(
                f"Rebuilt the index: {report['chunks']} chunks from {report['sources']} sources; "
                f"{report['caught_up']} changed meanwhile and synced again."
            )
        )
