from typing import Any

from django.core.management.base import BaseCommand, CommandError

from datacollection.encryption import encryption_enabled
from datacollection.rotation import encrypted_data_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt the private files and every encrypted database field with the primary (first) key of "
        "KNOWLEDGE_ENCRYPTION_KEYS; data still in plaintext is encrypted. Run after adding a key in front, "
        "then drop the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not encryption_enabled():
            raise CommandError("KNOWLEDGE_ENCRYPTION_KEYS is not set: there is no key to encrypt with.")
        report = encrypted_data_rotate()
        self.stdout.write(
            self.style.SUCCESS(f"re-encrypted {report.files} files and {report.values} database values")
        )
