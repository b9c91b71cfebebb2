"""Run one question through hybrid retrieval as a given user and show what each leg found.

manage.py search_query "how do I add a page type" [--user USERNAME] [--k 10] [--backend ALIAS]
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from datacollection.commands import command_user
from search.errors import KnowledgeError
from search.selectors import retrieval_search
from search.values import Hit, Principal

SNIPPET_CHARS = 160


def _leg(hit: Hit, leg: str) -> str:
    if leg not in hit.ranks:
        return "-"
    return f"#{hit.ranks[leg]} {hit.scores[leg]:.3f}"


class Command(BaseCommand):
    help = "Search the knowledge index like the chatbot does, showing per-leg scores and ranks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("query")
        parser.add_argument("--user", help="search as this username (default: anonymous)")
        parser.add_argument("--k", type=int, default=10)
        parser.add_argument("--backend", default="default", help="KNOWLEDGE_SEARCH_BACKENDS alias")

    def handle(self, *args: Any, **options: Any) -> None:
        principal = Principal.from_user(command_user(options["user"]))
        try:
            result = retrieval_search(
                options["query"], principal=principal, k=options["k"], backend_alias=options["backend"]
            )
        except KnowledgeError as e:
            raise CommandError(f"{type(e).__name__}: {e.message}") from e
        who = "anonymous" if principal.is_anonymous else options["user"]
        timing = ", ".join(f"{name} {seconds * 1000:.1f} ms" for name, seconds in result.timings.items())
        self.stdout.write(f"{len(result.hits)} hits for {result.query!r} as {who} ({timing})")
        if result.degraded:
            self.stdout.write(f"degraded: {', '.join(result.degraded)}")
        for hit in result.hits:
            chunk = hit.chunk
            link = f"{chunk.url}#{chunk.anchor}" if chunk.anchor else chunk.url
            snippet = " ".join(chunk.text.split())[:SNIPPET_CHARS]
            self.stdout.write(
                f"{hit.rank:>3}. {hit.score:.4f}  bm25 {_leg(hit, 'bm25')}  knn {_leg(hit, 'knn')}"
                + (f"  rerank {_leg(hit, 'rerank')}" if "rerank" in hit.ranks else "")
            )
            self.stdout.write(f"     {chunk.title}" + (f" › {chunk.section}" if chunk.section else ""))
            if link:
                self.stdout.write(f"     {link}")
            self.stdout.write(f"     {snippet}")
