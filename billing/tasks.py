from celery import shared_task

from billing.services.jobs import reconcile_invoices_work, reset_usage_work
from core.jobs import run_job


@shared_task(name="billing.reset_usage")
def reset_usage() -> dict:
    """Every 15 minutes: close due cycles (grant coverage, credits reset, usage reset)."""
    return run_job("billing.reset_usage", reset_usage_work).result


@shared_task(name="billing.reconcile_invoices")
def reconcile_invoices() -> dict:
    """Hourly: report each Stripe cost center's billable credits as a Billing Meter event."""
    return run_job("billing.reconcile_invoices", reconcile_invoices_work).result
