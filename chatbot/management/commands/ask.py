"""Ask the knowledge base from a terminal: the answer streams as it is produced, then its citations."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatbot.models import ChatSession
from chatbot.services import ChatInputError, answer_stream
from datacollection.commands import command_user

# Without --user the question is asked as this account: a plain signed-in user (no groups, not staff),
# so the answer only uses knowledge every signed-in user may see.
SYSTEM_USERNAME = "chatbot-cli"


def citation_line(source: dict[str, Any]) -> str:
    return f"[{source['number']}] {place_line(source)}"


def place_line(place: dict[str, Any]) -> str:
    url = str(place.get("url", ""))
    if url.startswith("/"):
        url = settings.WAGTAILADMIN_BASE_URL.rstrip("/") + url
    where = " › ".join(p for p in (place.get("title"), place.get("section")) if p)
    return f"{where} — {url}"


class Command(BaseCommand):
    help = "Answer a question from the knowledge base, streaming it, and list the cited sources."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("question")
        parser.add_argument("--user", help="ask as this username (default: a system user, signed-in rights)")
        parser.add_argument("--session", help="continue this chat session (UUID) instead of a throwaway one")

    def handle(
        self, *args: Any, question: str, user: str | None, session: str | None, **options: Any
    ) -> None:
        account = command_user(user, fallback=SYSTEM_USERNAME)
        chat, throwaway = self._session(session, account)
        try:
            self._ask(chat, account, question)
        finally:
            if throwaway:
                chat.delete()

    def _session(self, session_uuid: str | None, account: Any) -> tuple[ChatSession, bool]:
        if session_uuid is None:
            return ChatSession.objects.create(user=account, settings={"origin": "manage.py ask"}), True
        try:
            chat = ChatSession.objects.get(uuid=session_uuid)
        except (ChatSession.DoesNotExist, ValueError) as e:
            raise CommandError(f"No chat session {session_uuid!r}.") from e
        if chat.user_id != account.pk:
            raise CommandError(f"Session {session_uuid} belongs to another user; pass --user.")
        return chat, False

    def _ask(self, chat: ChatSession, account: Any, question: str) -> None:
        sources: list[dict[str, Any]] = []
        failure: dict[str, Any] = {}
        complete: dict[str, Any] = {}

        async def consume() -> None:
            async for event in answer_stream(session=chat, user=account, question=question):
                if event.type == "token":
                    self.stdout.write(event.data["content"], ending="")
                    self.stdout.flush()
                elif event.type == "source":
                    sources.append(event.data)
                elif event.type == "complete":
                    complete.update(event.data)
                elif event.type == "error":
                    failure.update(event.data)

        try:
            async_to_sync(consume)()
        except ChatInputError as e:
            raise CommandError(e.message) from e
        self.stdout.write("")
        if failure:
            raise CommandError(f"{failure['message']} ({failure['code']})")
        self._footer(sources, complete)

    def _footer(self, sources: list[dict[str, Any]], complete: dict[str, Any]) -> None:
        """The cited sources, a decline's closest pages, and (on stderr) what answered and how fast."""
        if sources:
            self.stdout.write("\nSources:")
            for source in sources:
                self.stdout.write(citation_line(source))
        if complete.get("related"):
            self.stdout.write("\nClosest pages (they may not answer the question):")
            for place in complete["related"]:
                self.stdout.write(f"- {place_line(place)}")
        if complete:
            declined = " · not covered by the knowledge base" if complete["declined"] else ""
            self.stderr.write(f"\n{complete['model']} · {complete['response_time']:.2f}s{declined}")
