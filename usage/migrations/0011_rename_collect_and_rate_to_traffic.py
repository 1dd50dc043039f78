"""The traffic job's Celery task and beat schedule are `traffic.collect_and_rate` (they were
`usage.collect_and_rate`).

A rename, not delete and create: the schedule keeps its interval and any edits made to it in
the admin. Its lock and JobRuns are still named in usage/traffic/services.py (JOB_NAME); they
move to the new name with the traffic app, so past runs are left under the old one here.
"""

from django.db import migrations

from core.schedules import rename_task


def forwards(apps, schema_editor):
    rename_task(apps, old="usage.collect_and_rate", new="traffic.collect_and_rate", job_runs=False)


def backwards(apps, schema_editor):
    rename_task(apps, old="traffic.collect_and_rate", new="usage.collect_and_rate", job_runs=False)


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0010_schedule_collect_and_rate"),
        ("core", "0002_jobrun"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
