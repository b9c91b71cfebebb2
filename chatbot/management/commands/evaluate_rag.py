"""Evaluate the answer service end to end on a question file against the live index.

    manage.py evaluate_rag --questions ../shared/eval/wagtail-docs/questions.jsonl [--json] [--limit N]
        [--llm ALIAS | --llm-url http://127.0.0.1:8080/v1 [--llm-model NAME] [--llm-key KEY]]

`--llm ALIAS` answers with one of CHATBOT_LLM_BACKENDS (default: the configured default alias);
`--llm-url` with any OpenAI-compatible server (OpenAI, vLLM, Ollama, `python -m llama_cpp.server`), as the
alias `evaluate`. A generating model also condenses follow-ups (CHATBOT_RAG CONDENSE_WITH_LLM).

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
        parser.add_argument("--llm", help="answer with this CHATBOT_LLM_BACKENDS alias")
        parser.add_argument("--llm-url", help="answer with the OpenAI-compatible server at this /v1 URL")
        parser.add_argument("--llm-model", default="default", help="the model name sent to --llm-url")
        parser.add_argument("--llm-key", default="", help="its API key (local servers need none)")

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

        with override_settings(CHATBOT_ANSWER_CACHE=cache, **_llm_settings(options)):
            report = evaluation_run(questions, user=user, progress=progress)
        self.stdout.write(report_format(report))
        if options["json"]:
            self.stdout.write(json.dumps(report, default=str))


LLM_URL_ALIAS = "evaluate"


def _llm_settings(options: dict[str, Any]) -> dict[str, Any]:
    """Settings that make the service answer with the chosen model (none: the configured default)."""
    backends = dict(getattr(settings, "CHATBOT_LLM_BACKENDS", {}))
    alias = options.get("llm")
    if options.get("llm_url"):
        if alias:
            raise CommandError("Give --llm or --llm-url, not both.")
        alias = LLM_URL_ALIAS
        backends[alias] = {
            "BACKEND": "chatbot.llm.openai",
            "BASE_URL": options["llm_url"],
            "MODEL": options.get("llm_model") or "default",
            "API_KEY": options.get("llm_key") or "",
        }
    if not alias:
        return {}
    if alias not in backends:
        known = ", ".join(sorted(backends)) or "none"
        raise CommandError(f"No LLM alias {alias!r} in CHATBOT_LLM_BACKENDS (configured: {known}).")
    rag = {**getattr(settings, "CHATBOT_RAG", {}), "LLM_ALIAS": alias}
    return {"CHATBOT_LLM_BACKENDS": backends, "CHATBOT_RAG": rag}
