from celery import shared_task
from django.utils import timezone

from core.jobs import run_job
from usage.services import meter_rating_run, usage_reconcile


def rate_usage_work() -> dict:
    now = timezone.now()
    return {"workspaces": usage_reconcile(now=now), "meters": meter_rating_run(now=now)}


@shared_task(name="usage.rate")
def rate_usage() -> dict:
    """Every minute: reconcile workspace instances and meter rollups into entries."""
    return run_job("usage.rate", rate_usage_work).result
