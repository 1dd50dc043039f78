import logging

from celery import shared_task
from django.db import transaction

from billing.selectors_recharge import enabled_auto_recharge_attribution_ids
from billing.services import cycles, recharges, reporting
from core.jobs import BILLING_CLOSE_CYCLES, BILLING_RECHARGE_CHECK, BILLING_RECONCILE_INVOICES, run_job

logger = logging.getLogger(__name__)


@shared_task(name=BILLING_CLOSE_CYCLES)
def cycles_close() -> dict:
    """Every 15 minutes: close due cycles (grant coverage, credits ledger reset, invoice entry)."""
    return run_job(BILLING_CLOSE_CYCLES, cycles.cycles_close).result


@shared_task(name=BILLING_RECONCILE_INVOICES)
def invoices_reconcile() -> dict:
    """Hourly: report each Stripe cost center's billable credits as a Billing Meter event."""
    return run_job(BILLING_RECONCILE_INVOICES, reporting.invoices_reconcile).result


@shared_task(name=BILLING_RECHARGE_CHECK)
def recharges_check(attribution_ids: list[str] | None = None) -> dict:
    """Every minute over every enabled auto-recharge, and right after a rating run for the
    attributions it rated: charge the teams that fell below their threshold."""
    return run_job(
        BILLING_RECHARGE_CHECK,
        lambda: recharges.recharges_check(attribution_ids=attribution_ids),
        triggered_by="schedule" if attribution_ids is None else "usage.rate",
    ).result


def recharge_check_after_rating(*, attribution_ids: list[str]) -> None:
    """usage.hooks `on_usage_rated` (registered in BillingConfig.ready): the rated teams whose
    auto-recharge is on are checked at once, after the rating commit. Enqueueing can fail (the
    broker is down): the minute sweep checks them anyway, so that is logged, never raised."""
    wanted = enabled_auto_recharge_attribution_ids(among=set(attribution_ids))
    if not wanted:
        return

    def enqueue() -> None:
        try:
            recharges_check.delay(wanted)
        except Exception:
            logger.exception("Could not enqueue %s for %d team(s)", BILLING_RECHARGE_CHECK, len(wanted))

    transaction.on_commit(enqueue)
