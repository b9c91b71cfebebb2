"""``manage.py extract FILE… [--json]``: what ingestion makes of files, without storing anything.

Runs the production steps (validation, sandboxed extraction, chunking) and prints per file its status or
refusal reason, pages, headings, passages (heading path, anchor, page, first words; ``--json``: the full
text), seconds and peak RSS. The output is how ingestion quality is measured from outside: keep its
fields stable (add, never rename).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledgebase.extraction_report import FileReport, file_report


class Command(BaseCommand):
    help = "Show what ingestion makes of files: status or reason, pages, headings, passages, time, memory."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
        parser.add_argument("--json", action="store_true", help="one JSON array, passages with full text")

    def handle(self, *args: Any, **options: Any) -> None:
        missing = [str(path) for path in options["files"] if not path.is_file()]
        if missing:
            raise CommandError(f"Not a file: {', '.join(missing)}")
        reports = [file_report(path) for path in options["files"]]
        if options["json"]:
            self.stdout.write(
                json.dumps([r.to_dict(full_text=True) for r in reports], ensure_ascii=False, indent=2)
            )
            return
        for report in reports:
            self._print(report)

    def _print(self, report: FileReport) -> None:
        timing = f"{report.seconds:.2f} s, peak RSS {report.peak_rss_mb:.0f} MB"
        if report.status != "ok":
            self.stdout.write(f"{report.file}: refused ({report.code}): {report.reason} [{timing}]")
            return
        self.stdout.write(
            f"{report.file}: ok: “{report.title}”, {report.pages} pages, {len(report.headings)} headings, "
            f"{len(report.passages)} passages, {report.characters:,} characters [{timing}]"
        )
        if report.encoding:
            self.stdout.write(f"  encoding: {report.encoding}")
        for warning in report.warnings:
            self.stdout.write(f"  warning: {warning}")
        for heading in report.headings:
            page = f" p.{heading.page}" if heading.page else ""
            self.stdout.write(f"  heading {heading.level}: {heading.text} #{heading.anchor}{page}")
        for passage in report.passages:
            path = " › ".join(passage.heading_path) or "(no heading)"
            anchor = f" #{passage.anchor}" if passage.anchor else ""
            page = f" p.{passage.page}" if passage.page else ""
            self.stdout.write(f"  passage: {path}{anchor}{page}: {passage.first_words}…")
