from django.db import migrations

from core.schedules import register_interval_task, unregister_task


def forwards(apps, schema_editor):
    register_interval_task(
        apps, name="billing.reconcile_invoices", task="billing.reconcile_invoices", every=1, period="hours"
    )


def backwards(apps, schema_editor):
    unregister_task(apps, name="billing.reconcile_invoices")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_stripe_records"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
