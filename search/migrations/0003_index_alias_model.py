"""IndexAlias.model: the embedder identity an index was built with ("" for indices made before)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0002_fulltext_gin_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="indexalias",
            name="model",
            field=models.CharField(blank=True, default="", max_length=300),
        ),
    ]
