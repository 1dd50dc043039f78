from celery import shared_task
from django.utils import timezone

from core.jobs import run_job
from usage.services import cost_centers_reset_due


def reset_usage_work() -> dict:
    return cost_centers_reset_due(now=timezone.now())


@shared_task(name="billing.reset_usage")
def reset_usage() -> dict:
    """Every 15 minutes: close the cycles of `other` cost centers whose billing time passed."""
    return run_job("billing.reset_usage", reset_usage_work).result
