"""Run one question through hybrid retrieval as a given user and show what each leg found.

manage.py search_query "how do I add a page type" [--user USERNAME] [--k 10] [--backend ALIAS]
    [--section URL|page:ID] [--type page|file] [--collection NAME|ID] [--tag TAG ...]
    [--after YYYY-MM-DD] [--before YYYY-MM-DD]
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from datacollection.commands import command_user
from search.errors import KnowledgeError
from search.filters import CONTENT_TYPES, SearchFilters
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
        parser.add_argument("--section", help="a page's URL or page:ID: that page and the pages under it")
        parser.add_argument("--type", dest="content_type", choices=CONTENT_TYPES, help="pages or files only")
        parser.add_argument("--collection", help="a file collection's name or id (with sub-collections)")
        parser.add_argument("--tag", dest="tags", action="append", default=[], help="repeat for several")
        parser.add_argument("--after", dest="updated_after", help="last published on or after YYYY-MM-DD")
        parser.add_argument("--before", dest="updated_before", help="last published on or before YYYY-MM-DD")

    def handle(self, *args: Any, **options: Any) -> None:
        principal = Principal.from_user(command_user(options["user"]))
        keys = ("section", "content_type", "collection", "tags", "updated_after", "updated_before")
        try:
            filters = SearchFilters.from_dict({key: options[key] for key in keys})
            result = retrieval_search(
                options["query"],
                principal=principal,
                k=options["k"],
                filters=filters,
                backend_alias=options["backend"],
            )
        except KnowledgeError as e:
            raise CommandError(f"{type(e).__name__}: {e.message}") from e
        who = "anonymous" if principal.is_anonymous else options["user"]
        timing = ", ".join(f"{name} {seconds * 1000:.1f} ms" for name, seconds in result.timings.items())
        narrowed = f", filters {filters.as_dict()}" if not filters.empty else ""
        self.stdout.write(f"{len(result.hits)} hits for {result.query!r} as {who}{narrowed} ({timing})")
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
