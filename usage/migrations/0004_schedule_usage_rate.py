from django.db import migrations

from core.schedules import register_interval_task, unregister_task


def forwards(apps, schema_editor):
    register_interval_task(apps, name="usage.rate", task="usage.rate", every=1)


def backwards(apps, schema_editor):
    unregister_task(apps, name="usage.rate")


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0003_seed_workspace_classes"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
