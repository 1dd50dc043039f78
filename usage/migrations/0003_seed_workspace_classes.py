from decimal import Decimal

from django.db import migrations

CLASSES = [
    ("g1-standard", "Standard", Decimal("0.166666666666667"), "4 cores, 8 GB: 1/6 credit a minute (10 an hour)"),
    ("g1-large", "Large", Decimal("0.333333333333333"), "8 cores, 16 GB: 1/3 credit a minute (20 an hour)"),
]


def seed(apps, schema_editor):
    WorkspaceClass = apps.get_model("usage", "WorkspaceClass")
    for slug, name, rate, description in CLASSES:
        WorkspaceClass.objects.get_or_create(
            slug=slug, defaults={"name": name, "credits_per_minute": rate, "description": description}
        )


class Migration(migrations.Migration):
    dependencies = [("usage", "0002_final_entries_are_immutable")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
