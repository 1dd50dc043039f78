from django.db import migrations

from core.schedules import register_interval_task, unregister_task


def forwards(apps, schema_editor):
    # The sweep over every enabled auto-recharge; rating runs also trigger it for the teams they rated.
    register_interval_task(
        apps, name="billing.recharge_check", task="billing.recharge_check", every=1, period="minutes"
    )


def backwards(apps, schema_editor):
    unregister_task(apps, name="billing.recharge_check")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0008_self_service"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
