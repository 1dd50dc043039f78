from celery import shared_task
from django.utils import timezone

from core.jobs import run_job
from usage.services import usage_reconcile


def rate_usage_work() -> dict:
    return usage_reconcile(now=timezone.now())


@shared_task(name="usage.rate")
def rate_usage() -> dict:
    """Every minute: reconcile workspace instances (and, later, meter rollups) into entries."""
    return run_job("usage.rate", rate_usage_work).result
