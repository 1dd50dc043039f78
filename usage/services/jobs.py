"""The work of the usage jobs: run by the Celery task on schedule and by the jobs API now
(both through core.jobs.run_job, which holds the job's lock and records the run)."""

from django.utils import timezone

from usage.services.rating import meter_rating_run
from usage.services.workspaces import usage_reconcile


def rate_usage_work() -> dict:
    now = timezone.now()
    return {"workspaces": usage_reconcile(now=now), "meters": meter_rating_run(now=now)}
