from celery import shared_task
from django.utils import timezone

from core.jobs import run_job
from credits.services import balance_snapshots_save_due


def snapshot_work() -> dict:
    return balance_snapshots_save_due(now=timezone.now())


@shared_task(name="credits.snapshot")
def snapshot_balances() -> dict:
    """Hourly: a balance snapshot per ledger at now minus the grace for late usage."""
    return run_job("credits.snapshot", snapshot_work).result
