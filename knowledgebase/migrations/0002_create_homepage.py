from django.db import migrations


def create_homepage(apps, schema_editor):
    """Replace Wagtail's default welcome page with our HomePage, as `wagtail start` projects do."""
    ContentType = apps.get_model("contenttypes.ContentType")
    Page = apps.get_model("wagtailcore.Page")
    Site = apps.get_model("wagtailcore.Site")
    Locale = apps.get_model("wagtailcore.Locale")
    HomePage = apps.get_model("knowledgebase.HomePage")

    Page.objects.filter(id=2, content_type__model="page", depth=2).delete()
    homepage_type, _ = ContentType.objects.get_or_create(model="homepage", app_label="knowledgebase")
    locale = Locale.objects.order_by("id").first()
    homepage = HomePage.objects.create(
        title="Knowledge base",
        draft_title="Knowledge base",
        slug="home",
        content_type=homepage_type,
        path="00010001",
        depth=2,
        numchild=0,
        url_path="/home/",
        locale=locale,
        intro="<p>Ask questions about our documentation and get answers that cite their sources.</p>",
    )
    Site.objects.update_or_create(
        is_default_site=True, defaults={"hostname": "localhost", "root_page": homepage}
    )


def remove_homepage(apps, schema_editor):
    ContentType = apps.get_model("contenttypes.ContentType")
    HomePage = apps.get_model("knowledgebase.HomePage")
    HomePage.objects.filter(slug="home", depth=2).delete()
    ContentType.objects.filter(model="homepage", app_label="knowledgebase").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("knowledgebase", "0001_initial"),
        ("wagtailcore", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_homepage, remove_homepage)]
