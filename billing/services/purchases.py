"""Buying credits: a Stripe Checkout Session per purchase, one prepaid grant per paid session.

`credit_purchase_start` validates the amount against `settings.TALLY_CREDIT_PURCHASE` for the
customer's currency, asks Stripe for a Checkout Session (payment mode) and stores the
`CreditPurchase` (open). The webhooks (billing/webhooks.py) call the `*_in_callers_transaction`
parts below inside dj-stripe's transaction; each re-reads the session (or charge) from Stripe.

Lock order: the purchase row (`select_for_update`), then the credits ledger (taken by
`grant_create` / `grant_void`, NOWAIT). Two deliveries for one session, in any order or at the
same moment, meet at the purchase row: the second sees the first one's grant and adds none.

Refund policy (docs/billing.md, "Buying credits"): any refund of the payment, full or partial,
voids what is left of the purchase's grant at that minute and records what had been used;
finance re-grants by hand when a partial refund should leave credits.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from billing.models import CreditPurchase
from billing.selectors import credit_purchase_terms, customer_for_attribution, preferred_currency
from billing.stripe_gateway import client_kwargs, stripe_call
from core.attribution import normalize_attribution_id
from core.errors import ApplicationError, Conflict, ValidationFailed
from core.money import format_credits
from core.params import parse_credits
from core.services_tx import (
    durable_transaction,
    runs_in_callers_transaction,
    service_opening_its_transaction,
    writes_nothing,
)
from credits.engine import truncate_to_minute
from credits.selectors import ledger_balance
from credits.services.grants import grant_create_in_callers_transaction, grant_void_in_callers_transaction

PAID_STATES = ("paid", "no_payment_required")


@dataclass(frozen=True)
class TopUpGrantTerms:
    priority: int
    expiration_count: int | None
    expiration_unit: str | None

    def as_grant_kwargs(self) -> dict:
        """grant_create's keyword arguments for these terms."""
        return {
            "priority": self.priority,
            "expiration_count": self.expiration_count,
            "expiration_unit": self.expiration_unit,
        }


@writes_nothing
def topup_grant_terms() -> TopUpGrantTerms:
    """The priority and expiry settings give bought credits (TALLY_TOPUP_PRIORITY, _EXPIRATION:
    "" never expires, "12 MONTH" expires 12 months after the purchase)."""
    raw = str(settings.TALLY_TOPUP_EXPIRATION or "").strip()
    if not raw:
        return TopUpGrantTerms(settings.TALLY_TOPUP_PRIORITY, None, None)
    count, _, unit = raw.partition(" ")
    return TopUpGrantTerms(settings.TALLY_TOPUP_PRIORITY, int(count), unit.strip().upper())


def _whole_credits(value: object) -> Decimal:
    credits = parse_credits(value, field="credits")
    if credits <= 0 or credits != credits.to_integral_value():
        raise ValidationFailed(
            "credits must be a whole number of credits greater than zero, e.g. 500.",
            code="invalid_credits",
        )
    return credits


@service_opening_its_transaction
def credit_purchase_start(
    *,
    attribution_id: str,
    credits: object,
    success_url: str,
    cancel_url: str,
    created_by: str = "",
) -> CreditPurchase:
    """Start buying `credits` (whole credits, within the currency's minimum and maximum): a
    Stripe Checkout Session in the customer's currency, then the open CreditPurchase in one
    transaction. The caller sends the owner to `checkout_url`. Refused input stores nothing."""
    attribution_id = normalize_attribution_id(attribution_id)
    credits = _whole_credits(credits)
    customer = customer_for_attribution(attribution_id)
    if customer is None:
        raise Conflict(
            "Set up billing first: create the team's Stripe customer (team page, Payment), then buy credits.",
            code="billing_not_set_up",
        )
    currency = preferred_currency(customer)
    terms = credit_purchase_terms(currency)
    if terms is None:
        raise Conflict(
            f"Credits cannot be bought in {currency.upper() or 'this currency'} on this Tally.",
            code="purchase_currency_unsupported",
        )
    if credits < terms.minimum:
        raise ValidationFailed(f"The smallest purchase is {terms.minimum:,} credits.", code="below_minimum")
    if credits > terms.maximum:
        raise ValidationFailed(
            f"The largest purchase is {terms.maximum:,} credits; buy more in several purchases"
            " or ask finance.",
            code="above_maximum",
        )
    whole = int(credits)
    amount_minor = whole * terms.unit_amount_minor
    reference = f"cp_{uuid.uuid4().hex}"
    metadata = {"attributionId": attribution_id, "credits": str(whole), "purchase": reference}
    with stripe_call("checkout_session.create"):
        session = stripe.checkout.Session.create(
            mode="payment",
            customer=customer.id,
            currency=currency,
            client_reference_id=reference,
            line_items=[
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency,
                        "unit_amount": amount_minor,
                        "product_data": {"name": f"{whole:,} Tally credits"},
                    },
                }
            ],
            metadata=metadata,
            payment_intent_data={"metadata": metadata},
            success_url=success_url,
            cancel_url=cancel_url,
            idempotency_key=f"credit-purchase-{reference}",
            **client_kwargs(),
        )
    with durable_transaction():
        purchase = CreditPurchase(
            session_id=session["id"],
            attribution_id=attribution_id,
            credits=credits,
            amount_minor=amount_minor,
            currency=currency,
            checkout_url=session.get("url") or "",
            created_by=created_by[:200],
        )
        purchase.full_clean()
        purchase.save()
        audit_record(
            action="credit_purchase.started",
            object_type="credit_purchase",
            object_id=purchase.pk,
            attribution_id=attribution_id,
            after=_audit_state(purchase),
        )
    return purchase


def _audit_state(purchase: CreditPurchase) -> dict:
    def credits(value):
        return format_credits(value) if value is not None else None

    return {
        "session_id": purchase.session_id,
        "credits": credits(purchase.credits),
        "amount_minor": purchase.amount_minor,
        "currency": purchase.currency,
        "status": purchase.status,
        "grant": purchase.grant_id,
        "payment_intent_id": purchase.payment_intent_id,
        "refunded_minor": purchase.refunded_minor,
        "credits_used_at_refund": credits(purchase.credits_used_at_refund),
        "credits_voided": credits(purchase.credits_voided),
    }


def _session_metadata(session) -> dict:
    return {k: str(v) for k, v in dict(session.get("metadata") or {}).items()}


def _locked_purchase(session) -> CreditPurchase | None:
    """The session's purchase row, locked. A paid session of ours whose row was never stored
    (the start crashed after Stripe answered) gets its row from the session itself."""
    found = CreditPurchase.objects.select_for_update().filter(session_id=session["id"]).first()
    if found is not None:
        return found
    metadata = _session_metadata(session)
    try:
        credits = _whole_credits(metadata.get("credits"))
        attribution_id = normalize_attribution_id(metadata.get("attributionId", ""))
    except (ApplicationError, TypeError, ValueError):
        return None  # metadata that names no purchase we could have started
    try:
        with transaction.atomic():  # a savepoint: losing the race to insert, lock the winner's row
            CreditPurchase.objects.create(
                session_id=session["id"],
                attribution_id=attribution_id,
                credits=credits,
                amount_minor=int(session.get("amount_total") or 0),
                currency=str(session.get("currency") or "").lower(),
                checkout_url=session.get("url") or "",
                created_by="stripe (row recovered from the session)",
            )
    except IntegrityError:
        pass
    return CreditPurchase.objects.select_for_update().get(session_id=session["id"])


def _payment_intent_id(session) -> str:
    intent = session.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    return str(intent or "")


@runs_in_callers_transaction
def credit_purchase_sync_in_callers_transaction(
    *, session_id: str, event_type: str, now: datetime | None = None
) -> tuple[str, str, str]:
    """Apply a Checkout Session's state as Stripe reports it now: paid → one top-up grant (the
    first time only), expired → expired, a failed async payment → failed; a paid purchase is
    never moved back. Returns (outcome, detail, attribution id) for the WebhookOutcome."""
    with stripe_call("checkout_session.retrieve"):
        session = stripe.checkout.Session.retrieve(session_id, **client_kwargs())
    metadata = _session_metadata(session)
    if not metadata.get("purchase") or not metadata.get("attributionId"):
        return "ignored", f"session {session_id} is not a Tally credit purchase", ""
    purchase = _locked_purchase(session)
    if purchase is None:
        return "ignored", f"session {session_id} names no purchase Tally knows", ""
    attribution_id = purchase.attribution_id
    if purchase.grant_id is not None:
        return (
            "succeeded",
            f"purchase {purchase.pk} already granted (grant {purchase.grant_id})",
            attribution_id,
        )
    before = _audit_state(purchase)
    payment_status = session.get("payment_status")
    if session.get("status") == "complete" and payment_status in PAID_STATES:
        now = now or timezone.now()
        terms = topup_grant_terms()
        whole = int(purchase.credits)
        grant = grant_create_in_callers_transaction(
            attribution_id=attribution_id,
            amount=purchase.credits,
            **terms.as_grant_kwargs(),
            metadata={
                "kind": "top-up",
                "source": "checkout",
                "checkout_session": session_id,
                "credit_purchase": purchase.pk,
                "name": f"Bought {whole:,} credits",
            },
            now=now,
        )
        purchase.grant = grant
        purchase.status = CreditPurchase.Status.PAID
        purchase.paid_at = now
        purchase.payment_intent_id = _payment_intent_id(session)
        detail = f"paid: {format_credits(purchase.credits)} credits granted (grant {grant.pk})"
    elif session.get("status") == "expired":
        purchase.status = CreditPurchase.Status.EXPIRED
        detail = "session expired: nothing granted"
    elif event_type == "checkout.session.async_payment_failed":
        purchase.status = CreditPurchase.Status.FAILED
        purchase.payment_intent_id = _payment_intent_id(session) or purchase.payment_intent_id
        detail = "the payment failed: nothing granted"
    else:
        return (
            "ignored",
            f"session {session_id} is {session.get('status')}, payment {payment_status}",
            attribution_id,
        )
    if before["status"] == purchase.status:
        return "succeeded", f"purchase {purchase.pk} already {purchase.status}", attribution_id
    purchase.full_clean()
    purchase.save()
    audit_record(
        action=f"credit_purchase.{purchase.status}",
        object_type="credit_purchase",
        object_id=purchase.pk,
        attribution_id=attribution_id,
        before=before,
        after=_audit_state(purchase),
    )
    return "succeeded", detail, attribution_id


@runs_in_callers_transaction
def credit_purchase_refund_in_callers_transaction(
    *, charge_id: str, now: datetime | None = None
) -> tuple[str, str, str]:
    """A refunded charge of a purchase: void what is left of its grant now (to the minute) and
    record what had been used. Any refund, full or partial, does so (docs/billing.md); a
    second refund of the same charge only updates the refunded amount."""
    with stripe_call("charge.retrieve"):
        charge = stripe.Charge.retrieve(charge_id, **client_kwargs())
    intent_id = charge.get("payment_intent")
    if isinstance(intent_id, dict):
        intent_id = intent_id.get("id")
    refunded_minor = int(charge.get("amount_refunded") or 0)
    if not intent_id:
        return "ignored", f"charge {charge_id} has no payment intent", ""
    purchase = CreditPurchase.objects.select_for_update().filter(payment_intent_id=intent_id).first()
    if purchase is None:
        return "ignored", f"charge {charge_id} did not pay for a credit purchase", ""
    attribution_id = purchase.attribution_id
    if refunded_minor <= 0:
        return "ignored", f"charge {charge_id} has nothing refunded", attribution_id
    before = _audit_state(purchase)
    now = now or timezone.now()
    if purchase.status == CreditPurchase.Status.REFUNDED:
        if refunded_minor == purchase.refunded_minor:
            return "succeeded", f"purchase {purchase.pk} already refunded", attribution_id
        purchase.refunded_minor = max(refunded_minor, purchase.refunded_minor)
        detail = f"refunded amount now {purchase.refunded_minor} {purchase.currency}"
    elif purchase.grant_id is None:
        return "ignored", f"purchase {purchase.pk} was never granted ({purchase.status})", attribution_id
    else:
        grant = purchase.grant
        moment = truncate_to_minute(grant.voided_at or now)
        remaining = _grant_remaining(attribution_id=attribution_id, grant_id=grant.pk, at=moment)
        if grant.voided_at is None:
            grant_void_in_callers_transaction(
                attribution_id=attribution_id, grant_id=grant.pk, voided_at=moment, now=now
            )
            voided = remaining
        else:
            voided = Decimal(0)  # staff voided it before the refund: nothing left to void
        purchase.status = CreditPurchase.Status.REFUNDED
        purchase.refunded_at = now
        purchase.refunded_minor = refunded_minor
        purchase.credits_voided = voided
        purchase.credits_used_at_refund = grant.amount - remaining
        detail = (
            f"refunded {refunded_minor} {purchase.currency}: {format_credits(voided)} credits voided,"
            f" {format_credits(purchase.credits_used_at_refund)} had been used"
        )
    purchase.full_clean()
    purchase.save()
    audit_record(
        action="credit_purchase.refunded",
        object_type="credit_purchase",
        object_id=purchase.pk,
        attribution_id=attribution_id,
        before=before,
        after=_audit_state(purchase),
    )
    return "succeeded", detail, attribution_id


def _grant_remaining(*, attribution_id: str, grant_id: int, at: datetime) -> Decimal:
    balance = ledger_balance(attribution_id=attribution_id, at=at)
    for line in balance.grants:
        if line.grant.id == grant_id:
            return line.balance
    return Decimal(0)  # expired (or not yet effective): nothing left
