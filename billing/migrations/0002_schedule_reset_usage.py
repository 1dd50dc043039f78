from django.db import migrations

from core.schedules import register_interval_task, unregister_task


def forwards(apps, schema_editor):
    register_interval_task(apps, name="billing.reset_usage", task="billing.reset_usage", every=15)


def backwards(apps, schema_editor):
    unregister_task(apps, name="billing.reset_usage")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
