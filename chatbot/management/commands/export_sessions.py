"""Every chat session started in a period, as JSON Lines, for an operator; audited.

manage.py export_sessions --since 2026-01-01 [--until 2026-02-01] --operator USERNAME --reason "..."
    [--output FILE]

The export is recorded in Wagtail's log (Reports › Site history) against the operator, with the period,
the count and the reason, and in the application log. Without --output it goes to standard output.
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date

from chatbot.exports import sessions_export
from datacollection.commands import command_user


def _day(value: str, option: str) -> datetime:
    day = parse_date(value or "")
    if day is None:
        raise CommandError(f"{option} takes a date like 2026-01-31, not {value!r}.")
    return timezone.make_aware(datetime.combine(day, time.min))


class Command(BaseCommand):
    help = "Export every chat session started in a period as JSON Lines (audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--until", help="the day after the last one, YYYY-MM-DD (default: now)")
        parser.add_argument("--operator", required=True, help="username of the staff member exporting")
        parser.add_argument("--reason", required=True, help="why (kept in the audit log)")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, *args: Any, **options: Any) -> None:
        since = _day(options["since"], "--since")
        until = _day(options["until"], "--until") if options["until"] else timezone.now()
        if until <= since:
            raise CommandError("--until must come after --since.")
        operator = command_user(options["operator"])
        if operator is None or not operator.is_staff:
            raise CommandError("--operator must name a staff account.")
        if not options["reason"].strip():
            raise CommandError("--reason must say why the sessions are exported.")
        if options["output"]:
            with Path(options["output"]).open("w", encoding="utf-8") as out:
                count = sessions_export(
                    out, since=since, until=until, operator=operator, reason=options["reason"].strip()
                )
            self.stderr.write(f"{count} sessions written to {options['output']}")
        else:
            sessions_export(
                self.stdout, since=since, until=until, operator=operator, reason=options["reason"].strip()
            )
