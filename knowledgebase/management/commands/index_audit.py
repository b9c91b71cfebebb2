import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledgebase.index_audit import KINDS, index_audit, index_audit_fix
from search.errors import SearchUnavailable


class Command(BaseCommand):
    help = (
        "Compare the index with what is live: missing, stale (older revision or other access), duplicate "
        "and orphan chunks. --fix queues the repairs for the worker; --check exits 1 on any difference."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--fix", action="store_true", help="Queue an index or removal job per difference."
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument("--check", action="store_true", help="Exit with status 1 if anything differs.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = index_audit()
        except SearchUnavailable as e:
            raise CommandError(f"The search engine cannot be read: {e.message}") from e
        queued = index_audit_fix(report) if options["fix"] else 0
        if options["json"]:
            self.stdout.write(json.dumps({**report.as_dict(), "repairs_queued": queued}, indent=2))
        else:
            self.stdout.write(
                f"{report.sources} live sources, {report.chunks} chunks in the index, checked in "
                f"{report.seconds:.1f} s; {len(report.pending)} sources still being indexed."
            )
            details: dict[str, Any] = {
                "missing": report.missing,
                "stale": [f"{key} ({why})" for key, why in sorted(report.stale.items())],
                "duplicate": report.duplicate,
                "orphan": report.orphan,
            }
            for kind in KINDS:
                self.stdout.write(f"  {kind:9} {len(details[kind])}  {' '.join(details[kind][:20])}".rstrip())
            if options["fix"]:
                self.stdout.write(f"Queued {queued} repairs.")
        if options["check"] and report.differences:
            raise CommandError(f"The index differs from the live content in {report.differences} sources.")
