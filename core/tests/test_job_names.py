"""One name per job: the schedule renames keep existing schedules, and each published job
endpoint runs the job core.jobs names for it."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from core.jobs import BILLING_CLOSE_CYCLES, JOB_ENDPOINTS, TRAFFIC_COLLECT_AND_RATE

pytestmark = pytest.mark.django_db

BEFORE = ("billing", "0004_schedule_reconcile_invoices")
AFTER = ("billing", "0005_rename_reset_usage_to_close_cycles")


def _migrate(target):
    """Migrate `target`'s app to `target` (every other app stays at its latest) and return the
    models as they are there."""
    executor = MigrationExecutor(connection)
    targets = [node for node in executor.loader.graph.leaf_nodes() if node[0] != target[0]] + [target]
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def _edited_schedule(apps, *, name: str, task: str):
    """A schedule as finance left it: every 30 minutes instead of 15, switched off, run 7 times."""
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name, BILLING_CLOSE_CYCLES]).delete()
    every_30, _ = IntervalSchedule.objects.get_or_create(every=30, period="minutes")
    return PeriodicTask.objects.create(
        name=name, task=task, interval=every_30, enabled=False, total_run_count=7
    )


def test_the_cycle_close_schedule_is_renamed_in_place_with_its_edits_kept():
    old_apps = _migrate(BEFORE)
    row = _edited_schedule(old_apps, name="billing.reset_usage", task="billing.reset_usage")
    old_apps.get_model("core", "JobRun").objects.create(job="billing.reset_usage", started_at=timezone.now())

    new_apps = _migrate(AFTER)

    renamed = new_apps.get_model("django_celery_beat", "PeriodicTask").objects.get(pk=row.pk)
    assert (renamed.name, renamed.task) == ("billing.close_cycles", "billing.close_cycles")
    assert (renamed.interval.every, renamed.interval.period) == (30, "minutes")
    assert (renamed.enabled, renamed.total_run_count) == (False, 7)
    job_runs = new_apps.get_model("core", "JobRun").objects
    assert list(job_runs.values_list("job", flat=True)) == ["billing.close_cycles"]


def test_the_rename_goes_back_too():
    _migrate(AFTER)
    new_apps = _migrate(AFTER)
    row = _edited_schedule(new_apps, name="billing.close_cycles", task="billing.close_cycles")

    old_apps = _migrate(BEFORE)
    back = old_apps.get_model("django_celery_beat", "PeriodicTask").objects.get(pk=row.pk)
    assert (back.name, back.task, back.interval.every) == ("billing.reset_usage", "billing.reset_usage", 30)
    _migrate(AFTER)


def test_the_traffic_schedule_is_renamed_in_place():
    before = ("traffic", "0002_content_types")
    after = ("traffic", "0003_rename_collect_and_rate_job")
    old_apps = _migrate(before)
    PeriodicTask = old_apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=["usage.collect_and_rate", TRAFFIC_COLLECT_AND_RATE]).delete()
    every_5, _ = old_apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
        every=5, period="minutes"
    )
    row = PeriodicTask.objects.create(
        name="usage.collect_and_rate", task="usage.collect_and_rate", interval=every_5
    )

    new_apps = _migrate(after)

    renamed = new_apps.get_model("django_celery_beat", "PeriodicTask").objects.get(pk=row.pk)
    assert (renamed.name, renamed.task, renamed.interval.every) == (
        TRAFFIC_COLLECT_AND_RATE,
        TRAFFIC_COLLECT_AND_RATE,
        5,
    )


@pytest.mark.parametrize("path", [p for p in JOB_ENDPOINTS if p.startswith("/api/v1/")])
def test_each_job_endpoint_runs_the_job_named_for_it(internal_client, redis, stripe_fake, path):
    response = internal_client.post(path)
    assert response.status_code == 200, response.content
    assert response.json()["job"] == JOB_ENDPOINTS[path]
