from celery import shared_task

from billing.services import cycles, reporting
from core.jobs import BILLING_CLOSE_CYCLES, BILLING_RECONCILE_INVOICES, run_job


@shared_task(name=BILLING_CLOSE_CYCLES)
def cycles_close() -> dict:
    """Every 15 minutes: close due cycles (grant coverage, credits ledger reset, invoice entry)."""
    return run_job(BILLING_CLOSE_CYCLES, cycles.cycles_close).result


@shared_task(name=BILLING_RECONCILE_INVOICES)
def invoices_reconcile() -> dict:
    """Hourly: report each Stripe cost center's billable credits as a Billing Meter event."""
    return run_job(BILLING_RECONCILE_INVOICES, reporting.invoices_reconcile).result
