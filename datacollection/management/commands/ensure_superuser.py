import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from datacollection.settings.env import env_str


class Command(BaseCommand):
    help = (
        "Create the first superuser once: from DJANGO_SUPERUSER_USERNAME / _PASSWORD / _EMAIL, "
        "or 'admin' with a random password that is printed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        if user_model.objects.filter(is_superuser=True).exists():
            self.stdout.write("A superuser exists already; nothing to do.")
            return
        username = env_str("DJANGO_SUPERUSER_USERNAME", "admin")
        password = env_str("DJANGO_SUPERUSER_PASSWORD")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser(
            username=username, email=env_str("DJANGO_SUPERUSER_EMAIL", "admin@example.com"), password=password
        )
        if generated:
            self.stdout.write(self.style.SUCCESS(f"Created superuser '{username}' with password: {password}"))
            self.stdout.write("(shown once; set DJANGO_SUPERUSER_PASSWORD to choose it yourself)")
        else:
            self.stdout.write(self.style.SUCCESS(f"Created superuser '{username}' from the environment."))
