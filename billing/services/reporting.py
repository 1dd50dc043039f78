"""ReconcileInvoices: report billable credits to Stripe as Billing Meter events.

The meter aggregates with `last`, so each report is the cycle's running total, rounded up to
whole credits. The identifier is cost center + cycle + quantity: a retry, a second run or a
crash between Stripe's answer and our record never counts twice (Stripe refuses a repeated
identifier, and we skip a quantity we already reported for the cycle).
"""

import logging
import math
from datetime import datetime

import stripe
from django.conf import settings
from django.utils import timezone

from billing.models import UsageReport
from billing.selectors import billable_credits, customer_for_attribution
from billing.stripe_gateway import client_kwargs, is_already_exists, stripe_call
from core.errors import UpstreamError
from core.services_tx import durable_transaction, job, service_opening_its_transaction
from core.timeutils import format_rfc3339
from usage.models import CostCenter

logger = logging.getLogger(__name__)


@service_opening_its_transaction
def usage_report_send(*, attribution_id: str, now: datetime | None = None) -> tuple[str, int | None]:
    """Report one Stripe cost center; returns (outcome, quantity). The report is recorded in its
    own transaction after Stripe answered (no transaction stays open across the call)."""
    now = now or timezone.now()
    cost_center = CostCenter.objects.filter(attribution_id=attribution_id).first()
    if cost_center is None or cost_center.billing_strategy != CostCenter.BillingStrategy.STRIPE:
        return "skipped", None
    customer = customer_for_attribution(attribution_id)
    if customer is None:
        return "no_customer", None
    quantity = max(0, math.ceil(billable_credits(attribution_id=attribution_id, now=now)))
    last = (
        UsageReport.objects.filter(attribution_id=attribution_id, cycle_start=cost_center.billing_cycle_start)
        .order_by("-created_at")
        .first()
    )
    if last is not None and last.quantity == quantity:
        return "unchanged", quantity
    identifier = f"{attribution_id}:{format_rfc3339(cost_center.billing_cycle_start)}:{quantity}"
    try:
        with stripe_call("billing.meter_event.create"):
            stripe.billing.MeterEvent.create(
                event_name=settings.STRIPE_METER_EVENT_NAME,
                payload={"stripe_customer_id": customer.id, "value": str(quantity)},
                identifier=identifier,
                timestamp=int(now.timestamp()),
                **client_kwargs(),
            )
    except UpstreamError as exc:
        if not is_already_exists(exc):
            raise
        logger.info("Meter event %s was already reported.", identifier)
    with durable_transaction():
        UsageReport.objects.get_or_create(
            identifier=identifier,
            defaults={
                "attribution_id": attribution_id,
                "customer_id": customer.id,
                "cycle_start": cost_center.billing_cycle_start,
                "quantity": quantity,
                "event_name": settings.STRIPE_METER_EVENT_NAME,
            },
        )
    return "reported", quantity


@job
def invoices_reconcile(*, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    counts = {"reported": 0, "unchanged": 0, "no_customer": 0, "skipped": 0}
    failed = []
    for attribution_id in CostCenter.objects.filter(billing_strategy="stripe").values_list(
        "attribution_id", flat=True
    ):
        try:
            outcome, _ = usage_report_send(attribution_id=attribution_id, now=now)
        except Exception:
            logger.exception("Reporting usage of %s to Stripe failed; the next run retries.", attribution_id)
            failed.append(attribution_id)
            continue
        counts[outcome] += 1
    return {"status": "partial" if failed else "ok", **counts, "failed": failed}
