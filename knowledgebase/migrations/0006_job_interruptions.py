from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("knowledgebase", "0005_private_uploads"),
    ]

    operations = [
        migrations.AddField(
            model_name="indexingjob",
            name="interruptions",
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
