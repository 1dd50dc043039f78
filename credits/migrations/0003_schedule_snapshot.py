from django.db import migrations

from core.schedules import register_interval_task, unregister_task


def forwards(apps, schema_editor):
    register_interval_task(apps, name="credits.snapshot", task="credits.snapshot", every=1, period="hours")


def backwards(apps, schema_editor):
    unregister_task(apps, name="credits.snapshot")


class Migration(migrations.Migration):
    dependencies = [
        ("credits", "0002_grants_are_append_only"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
