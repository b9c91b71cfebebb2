"""`manage.py feedback_report --since 30d [--format md|csv] [--output PATH]`: worst-rated pages,
unanswered questions and suggested work, printed or written to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from chatbot.feedback.report import (
    FORMATS,
    duration_parse,
    improvement_report_build,
    improvement_report_render,
)


class Command(BaseCommand):
    help = "The chat answers' improvement report: worst pages, unanswered questions, suggested work."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", default="30d", help="How far back: 30d, 12h, 2w (default 30d).")
        parser.add_argument("--format", choices=FORMATS, default="md", help="md (default) or csv.")
        parser.add_argument("--output", default="", help="A file to write; default: standard output.")
        parser.add_argument("--limit", type=int, default=20, help="Rows per section (default 20).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            period = duration_parse(options["since"])
        except ValueError as e:
            raise CommandError(str(e)) from e
        until = timezone.now()
        report = improvement_report_build(since=until - period, until=until, limit=options["limit"])
        text = improvement_report_render(report, fmt=options["format"])
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"Wrote {options['output']}")
        else:
            self.stdout.write(text, ending="")
