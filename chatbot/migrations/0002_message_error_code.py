"""Message.error held internal exception text that the API returned to the asker; now it holds the
user-facing message and `error_code` the code. Old rows are rewritten the same way (the detail is gone
from the API; it was never meant for the asker)."""

from django.db import migrations, models

# The user-facing messages of chatbot.rag.pipeline, copied: a migration must not change with app code.
MESSAGES = {
    "search_unavailable": (
        "Search is temporarily unavailable, so I can't look this up right now. Please try again shortly."
    ),
    "llm_unavailable": "The answer service is temporarily unavailable. Please try again shortly.",
    "internal_error": "Something went wrong while answering. Please try again.",
}


def errors_scrub(apps, schema_editor):
    Message = apps.get_model("chatbot", "Message")
    for code, message in MESSAGES.items():
        Message.objects.filter(error=message).update(error_code=code)
    leftover = Message.objects.exclude(error="").exclude(error__in=list(MESSAGES.values()))
    leftover.update(error_code="internal_error", error=MESSAGES["internal_error"])


class Migration(migrations.Migration):
    dependencies = [
        ("chatbot", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="error_code",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.RunPython(errors_scrub, migrations.RunPython.noop),
    ]
