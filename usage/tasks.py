from celery import shared_task

from core.jobs import run_job
from usage.services.jobs import rate_usage_work


@shared_task(name="usage.rate")
def rate_usage() -> dict:
    """Every minute: reconcile workspace instances and meter rollups into entries."""
    return run_job("usage.rate", rate_usage_work).result
