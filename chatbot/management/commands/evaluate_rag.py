"""Evaluate the answer service end to end on a question file against the live index.

    manage.py evaluate_rag --questions ../shared/eval/wagtail-docs/questions.jsonl [--json] [--limit N]

The pages must be imported with `manage.py import_markdown <corpus> --parent /docs/` so that their
`source_path` matches the questions' `relevant[].path`. The answer cache is off during the run (a repeated
run would otherwise measure the cache); `--cache` keeps it on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test.utils import override_settings

from chatbot.evaluation import QuestionResult, evaluation_run, questions_load, report_format
from datacollection.commands import command_user

EVAL_USERNAME = "chatbot-eval"


class Command(BaseCommand):
    help = "Retrieval, answer and latency metrics of the chatbot on a questions.jsonl file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--questions", type=Path, required=True)
        parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
        parser.add_argument("--json", action="store_true", help="print the report as one JSON line, last")
        parser.add_argument("--user", help="ask as this username (default: a plain signed-in user)")
        parser.add_argument("--cache", action="store_true", help="keep the answer cache on")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["questions"]
        if not path.is_file():
            raise CommandError(f"No question file at {path}.")
        questions = questions_load(path)[: options["limit"]]
        user = command_user(options["user"], fallback=EVAL_USERNAME)
        cache = {**getattr(settings, "CHATBOT_ANSWER_CACHE", {}), "ENABLED": bool(options["cache"])}
        verbose = options["verbosity"] > 1

        def progress(result: QuestionResult) -> None:
            if verbose:
                flag = "declined" if result.declined else result.status
                self.stderr.write(
                    f"{result.id} {result.kind:<12} {flag:<9} {result.total:.2f}s {result.query}"
                )

        with override_settings(CHATBOT_ANSWER_CACHE=cache):
            report = evaluation_run(questions, user=user, progress=progress)
        self.stdout.write(report_format(report))
        if options["json"]:
            self.stdout.write(json.dumps(report, default=str))
