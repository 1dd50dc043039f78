from celery import shared_task

from core.jobs import USAGE_RATE, run_job
from usage import services


@shared_task(name=USAGE_RATE)
def usage_rate() -> dict:
    """Every minute: price workspace instances and meter rollups into usage entries."""
    return run_job(USAGE_RATE, services.usage_rate).result
