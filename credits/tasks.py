from celery import shared_task

from core.jobs import CREDITS_SNAPSHOT, run_job
from credits import services


@shared_task(name=CREDITS_SNAPSHOT)
def balance_snapshots_save_due() -> dict:
    """Hourly: a balance snapshot per ledger at now minus the grace for late usage."""
    return run_job(CREDITS_SNAPSHOT, services.balance_snapshots_save_due).result
