"""The cycle-close job is `billing.close_cycles` (it was `billing.reset_usage`).

A rename, not delete and create: existing schedules keep their interval and any edits made to
them in the admin, and past JobRuns move to the new name.
"""

from django.db import migrations

from core.schedules import rename_task


def forwards(apps, schema_editor):
    rename_task(apps, old="billing.reset_usage", new="billing.close_cycles")


def backwards(apps, schema_editor):
    rename_task(apps, old="billing.close_cycles", new="billing.reset_usage")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0004_schedule_reconcile_invoices"),
        ("core", "0002_jobrun"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
