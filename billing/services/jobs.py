"""The work of the billing jobs: run by the Celery tasks on schedule and by the jobs API now
(both through core.jobs.run_job, which holds the job's lock and records the run)."""

from django.utils import timezone

from billing.services.cycles import cycles_close_due
from billing.services.reporting import usage_reports_send


def reset_usage_work() -> dict:
    return cycles_close_due(now=timezone.now())


def reconcile_invoices_work() -> dict:
    return usage_reports_send(now=timezone.now())
