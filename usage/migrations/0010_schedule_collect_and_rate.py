"""Beat schedule of usage.collect_and_rate: every COLLECT_INTERVAL seconds (default one minute).

The interval is read when this migration runs; afterwards the schedule is edited in the admin
(Periodic tasks), like every other job's.
"""

from django.db import migrations

from core.schedules import register_interval_task, unregister_task


def forwards(apps, schema_editor):
    from django.conf import settings

    # COLLECT_INTERVAL was checked at startup (traffic.config, a whole number of seconds >= 1);
    # read here directly so usage's history does not import the traffic app.
    seconds = int(str(getattr(settings, "COLLECT_INTERVAL", "") or 60).strip())
    if seconds % 60 == 0:
        register_interval_task(
            apps, name="usage.collect_and_rate", task="usage.collect_and_rate", every=seconds // 60
        )
    else:
        register_interval_task(
            apps,
            name="usage.collect_and_rate",
            task="usage.collect_and_rate",
            every=seconds,
            period="seconds",
        )


def backwards(apps, schema_editor):
    unregister_task(apps, name="usage.collect_and_rate")


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0009_traffic_minutes_are_immutable"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
