"""Stripe webhook handlers, registered with dj-stripe (imported from BillingConfig.ready).

dj-stripe checks the signature, stores the delivery and runs these inside its transaction;
an exception rolls the work back and dj-stripe records the error on the delivery (Stripe then
retries). Each handler re-reads the object from Stripe by id, is idempotent (keys on the
Stripe object id), and records what it did as a WebhookOutcome. Being inside dj-stripe's
transaction, handlers call the `*_in_callers_transaction` helpers, never a durable service.
"""

import logging

from django.dispatch import receiver
from djstripe import signals as djstripe_signals
from djstripe.event_handlers import djstripe_receiver

from billing.models import WebhookOutcome
from billing.services.disputes import dispute_sync_in_callers_transaction
from billing.services.invoices import invoice_finalize_in_callers_transaction
from billing.services.purchases import (
    credit_purchase_refund_in_callers_transaction,
    credit_purchase_sync_in_callers_transaction,
)
from billing.services.recharges import (
    recharge_payment_failed_in_callers_transaction,
    recharge_payment_succeeded_in_callers_transaction,
)
from billing.services.stripe_ops import attribution_for_customer, subscriptions_tax_state_update
from billing.stripe_gateway import STRIPE_WEBHOOK_DELIVERIES, STRIPE_WEBHOOKS
from core.context import KIND_SYSTEM, SOURCE_WEBHOOK, Actor, acting_as
from usage.selectors import cost_center_get
from usage.services import cost_center_set_in_callers_transaction

logger = logging.getLogger(__name__)


def _record(event, handler: str, work) -> None:
    outcome, _ = WebhookOutcome.objects.get_or_create(
        event_id=event.id, handler=handler, defaults={"event_type": event.type}
    )
    if outcome.status in (WebhookOutcome.Status.SUCCEEDED, WebhookOutcome.Status.IGNORED):
        STRIPE_WEBHOOKS.labels(type=event.type, outcome="duplicate").inc()
        return  # this event was handled before
    actor = Actor(kind=KIND_SYSTEM, label=f"stripe:{event.type}", source=SOURCE_WEBHOOK, id=event.id)
    try:
        with acting_as(actor):  # dj-stripe's transaction: a failure rolls everything back
            status, detail, attribution_id = work(event)
    except Exception:
        STRIPE_WEBHOOKS.labels(type=event.type, outcome="error").inc()
        raise
    outcome.status, outcome.detail, outcome.attribution_id = status, detail, attribution_id or ""
    outcome.save()
    STRIPE_WEBHOOKS.labels(type=event.type, outcome=status).inc()
    logger.info("Stripe %s %s: %s %s", event.type, event.id, status, detail)


def _object(event) -> dict:
    return (event.data or {}).get("object") or {}


def _invoice_finalized(event):
    invoice_id = _object(event).get("id")
    status, detail = invoice_finalize_in_callers_transaction(invoice_id=invoice_id)
    return (
        status,
        detail,
        attribution_for_customer(_object(event).get("customer")) if status == "succeeded" else "",
    )


def _invoice_paid(event):
    obj = _object(event)
    attribution_id = attribution_for_customer(obj.get("customer"))
    if attribution_id is None:
        return "ignored", f"customer {obj.get('customer')} is not a Tally customer", ""
    return (
        "succeeded",
        f"invoice {obj.get('id')} paid ({obj.get('amount_paid')} {obj.get('currency')})",
        attribution_id,
    )


def _subscription_deleted(event):
    obj = _object(event)
    attribution_id = attribution_for_customer(obj.get("customer"))
    if attribution_id is None:
        return "ignored", f"customer {obj.get('customer')} is not a Tally customer", ""
    cost_center = cost_center_get(attribution_id=attribution_id)
    if cost_center is not None and cost_center.billing_strategy == "stripe":
        cost_center_set_in_callers_transaction(
            attribution_id=attribution_id, billing_strategy="other", changed_by="stripe webhook"
        )
        return "succeeded", f"subscription {obj.get('id')} ended: cost center back to other", attribution_id
    return "succeeded", "cost center already on other", attribution_id


def _dispute(event):
    status, detail = dispute_sync_in_callers_transaction(dispute_id=_object(event).get("id"))
    return status, detail, ""


def _customer_updated(event):
    previous = (event.data or {}).get("previous_attributes") or {}
    obj = _object(event)
    attribution_id = attribution_for_customer(obj.get("id")) or ""
    if not attribution_id:
        return "ignored", f"customer {obj.get('id')} is not a Tally customer", ""
    if "address" not in previous:
        return "ignored", "address unchanged", attribution_id
    updated = subscriptions_tax_state_update(customer_id=obj["id"])
    return "succeeded", f"tax state updated on {len(updated)} subscription(s)", attribution_id


@djstripe_receiver("invoice.finalized")
def on_invoice_finalized(sender, event, **kwargs):
    _record(event, "invoice_finalized", _invoice_finalized)


@djstripe_receiver("invoice.paid")
def on_invoice_paid(sender, event, **kwargs):
    _record(event, "invoice_paid", _invoice_paid)


@djstripe_receiver("customer.subscription.deleted")
def on_subscription_deleted(sender, event, **kwargs):
    _record(event, "subscription_deleted", _subscription_deleted)


@djstripe_receiver(["charge.dispute.created", "charge.dispute.closed"])
def on_dispute(sender, event, **kwargs):
    _record(event, "dispute", _dispute)


@djstripe_receiver("customer.updated")
def on_customer_updated(sender, event, **kwargs):
    _record(event, "customer_updated", _customer_updated)


# --- Auto-recharge (billing.services.recharges): the charge's outcome ------------------------
def _recharge_succeeded(event):
    obj = _object(event)
    return recharge_payment_succeeded_in_callers_transaction(
        payment_intent_id=obj.get("id"), event_metadata=obj.get("metadata") or {}
    )


def _recharge_failed(event):
    obj = _object(event)
    return recharge_payment_failed_in_callers_transaction(
        payment_intent_id=obj.get("id"), event_metadata=obj.get("metadata") or {}
    )


@djstripe_receiver("payment_intent.succeeded")
def on_payment_intent_succeeded_recharge(sender, event, **kwargs):
    _record(event, "recharge_succeeded", _recharge_succeeded)


@djstripe_receiver("payment_intent.payment_failed")
def on_payment_intent_failed_recharge(sender, event, **kwargs):
    _record(event, "recharge_failed", _recharge_failed)


# --- Deliveries as dj-stripe sees them (signature, processing), whatever the handlers did ----
UNVERIFIED = "unverified"  # a type read from an unsigned body is attacker-chosen: never a label


def _delivery_type(trigger) -> str:
    if not trigger.valid:
        return UNVERIFIED
    event_type = getattr(getattr(trigger, "event", None), "type", None)
    if not event_type:
        body = trigger.json_body
        event_type = body.get("type") if isinstance(body, dict) else None
    return str(event_type or UNVERIFIED)[:100]


@receiver(djstripe_signals.webhook_post_validate, dispatch_uid="billing.webhooks.post_validate")
def on_delivery_validated(sender, instance, valid, **kwargs):
    if not valid:
        STRIPE_WEBHOOK_DELIVERIES.labels(type=UNVERIFIED, outcome="invalid").inc()


@receiver(djstripe_signals.webhook_post_process, dispatch_uid="billing.webhooks.post_process")
def on_delivery_processed(sender, instance, **kwargs):
    STRIPE_WEBHOOK_DELIVERIES.labels(type=_delivery_type(instance), outcome="processed").inc()


@receiver(djstripe_signals.webhook_processing_error, dispatch_uid="billing.webhooks.processing_error")
def on_delivery_failed(sender, instance, exception, **kwargs):
    STRIPE_WEBHOOK_DELIVERIES.labels(type=_delivery_type(instance), outcome="error").inc()
    logger.warning("Stripe webhook delivery failed (dj-stripe trigger %s): %s", instance.pk, exception)


# --- Buying credits (billing/services/purchases.py; docs/billing.md, "Buying credits") -------
def _checkout_session(event):
    from_payload = _object(event).get("id")
    return credit_purchase_sync_in_callers_transaction(session_id=from_payload, event_type=event.type)


def _charge_refunded(event):
    return credit_purchase_refund_in_callers_transaction(charge_id=_object(event).get("id"))


@djstripe_receiver(
    [
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    ]
)
def on_checkout_session(sender, event, **kwargs):
    _record(event, "credit_purchase", _checkout_session)


@djstripe_receiver("charge.refunded")
def on_charge_refunded(sender, event, **kwargs):
    _record(event, "credit_purchase_refund", _charge_refunded)
