from celery import shared_task
from django.utils import timezone

from billing.services.cycles import cycles_close_due
from billing.services.reporting import usage_reports_send
from core.jobs import run_job


def reset_usage_work() -> dict:
    return cycles_close_due(now=timezone.now())


def reconcile_invoices_work() -> dict:
    return usage_reports_send(now=timezone.now())


@shared_task(name="billing.reset_usage")
def reset_usage() -> dict:
    """Every 15 minutes: close due cycles (grant coverage, credits reset, usage reset)."""
    return run_job("billing.reset_usage", reset_usage_work).result


@shared_task(name="billing.reconcile_invoices")
def reconcile_invoices() -> dict:
    """Hourly: report each Stripe cost center's billable credits as a Billing Meter event."""
    return run_job("billing.reconcile_invoices", reconcile_invoices_work).result
