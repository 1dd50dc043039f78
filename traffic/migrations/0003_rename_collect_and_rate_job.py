"""The traffic job is `traffic.collect_and_rate` (it was `usage.collect_and_rate`): its Celery
task, beat schedule, lock and JobRuns (core.jobs names every job once).

A rename, not delete and create: the schedule keeps its interval and any edits made to it in
the admin, and past runs move to the new name so the job's history stays under one name.
"""

from django.db import migrations

from core.schedules import rename_task


def forwards(apps, schema_editor):
    rename_task(apps, old="usage.collect_and_rate", new="traffic.collect_and_rate")


def backwards(apps, schema_editor):
    rename_task(apps, old="traffic.collect_and_rate", new="usage.collect_and_rate")


class Migration(migrations.Migration):
    dependencies = [
        ("traffic", "0002_content_types"),
        ("usage", "0010_schedule_collect_and_rate"),
        ("core", "0002_jobrun"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
