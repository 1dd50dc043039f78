"""The moved models' content types follow them (usage → traffic), so the permissions staff
and groups hold on them, and admin log entries, keep pointing at the same rows."""

from django.db import migrations

MODELS = (
    "exportersource",
    "trafficaccount",
    "trafficcounterstate",
    "trafficminute",
    "trafficquotastate",
    "trafficsourcestate",
)


def move(apps, schema_editor, *, source: str, target: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    taken = set(
        ContentType.objects.using(db).filter(app_label=target, model__in=MODELS).values_list("model", flat=True)
    )
    # A type already created for the target (post_migrate ran in between) keeps its own rows:
    # the old one is left alone rather than merged, so no permission is lost either way.
    ContentType.objects.using(db).filter(app_label=source, model__in=MODELS).exclude(model__in=taken).update(
        app_label=target
    )


def forwards(apps, schema_editor):
    move(apps, schema_editor, source="usage", target="traffic")


def backwards(apps, schema_editor):
    move(apps, schema_editor, source="traffic", target="usage")


class Migration(migrations.Migration):
    dependencies = [
        ("traffic", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
