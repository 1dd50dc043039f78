"""Stripe operations of the BillingService: customers, the card hold, subscriptions, prices, tax.

Every call goes through `billing.stripe_gateway` (errors become 502 with Stripe's message and
request id). Local copies are kept by dj-stripe (`sync_from_stripe_data`).
"""

import logging
import re
from dataclasses import dataclass
from decimal import Decimal

import stripe
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from djstripe.models import Customer, Subscription

from billing.selectors import (
    ZERO_DECIMAL_CURRENCIES,
    customer_for_attribution,
    customer_get,
    preferred_currency,
)
from billing.stripe_gateway import client_kwargs, stripe_call
from core.attribution import normalize_attribution_id
from core.errors import Conflict, NotFound, ValidationFailed
from core.services_tx import durable_transaction, service_opening_its_transaction, writes_nothing
from usage.services import cost_center_set_in_callers_transaction

logger = logging.getLogger(__name__)


@writes_nothing
def attribution_for_customer(customer_id: str | None) -> str | None:
    """The attribution id a Stripe customer bills for: the local copy first, then Stripe."""
    if not customer_id:
        return None
    local = Customer.objects.filter(id=customer_id).values_list("metadata", flat=True).first()
    metadata = local
    if metadata is None:
        with stripe_call("customer.retrieve"):
            try:
                metadata = stripe.Customer.retrieve(customer_id, **client_kwargs()).get("metadata") or {}
            except stripe.InvalidRequestError:
                metadata = {}
    value = (metadata or {}).get("attributionId")
    try:
        return normalize_attribution_id(value) if value else None
    except Exception:
        return None


def _currency(value: object) -> str:
    currency = str(value or "").lower()
    if currency not in settings.STRIPE_PRICE_IDS:
        supported = ", ".join(sorted(settings.STRIPE_PRICE_IDS)) or "none configured"
        raise ValidationFailed(f"currency must be one of: {supported}.", code="unsupported_currency")
    return currency


@service_opening_its_transaction
def customer_create(
    *, attribution_id: str, currency: str, email: str, name: str, created_by_user_id: str | None = None
) -> Customer:
    """CreateStripeCustomer: one customer per attribution, carrying attributionId in metadata.
    Stripe first; then the local copy in one transaction."""
    attribution_id = normalize_attribution_id(attribution_id)
    currency = _currency(currency)
    if not isinstance(name, str) or not name.strip():
        raise ValidationFailed("name is required.", code="invalid_name")
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValidationFailed("email must be a valid email address.", code="invalid_email") from None
    if customer_for_attribution(attribution_id) is not None:
        raise Conflict("This team already has a Stripe customer.", code="customer_exists")
    metadata = {"attributionId": attribution_id, "preferredCurrency": currency}
    if created_by_user_id:
        metadata["billingCreatorUserId"] = str(created_by_user_id)
    with stripe_call("customer.create"):
        created = stripe.Customer.create(
            email=email,
            name=name.strip(),
            metadata=metadata,
            idempotency_key=f"customer-create-{attribution_id}",
            **client_kwargs(),
        )
    with durable_transaction():
        return Customer.sync_from_stripe_data(created, api_key=client_kwargs()["api_key"])


@dataclass(frozen=True)
class HoldIntent:
    id: str
    client_secret: str
    amount_minor: int
    currency: str


@writes_nothing
def hold_payment_intent_create(*, attribution_id: str) -> HoldIntent:
    """A 1.00 card hold in the customer's currency (manual capture, kept for off-session use);
    subscribing later requires it in `requires_capture`, then cancels it. Only Stripe is written."""
    customer = customer_get(attribution_id=attribution_id)
    currency = _currency(preferred_currency(customer))
    amount = 1 if currency in ZERO_DECIMAL_CURRENCIES else settings.STRIPE_HOLD_AMOUNT_MINOR
    with stripe_call("payment_intent.create"):
        intent = stripe.PaymentIntent.create(
            amount=amount,
            currency=currency,
            customer=customer.id,
            payment_method_types=["card"],
            capture_method="manual",
            setup_future_usage="off_session",
            metadata={"attributionId": customer.metadata.get("attributionId", "")},
            **client_kwargs(),
        )
    return HoldIntent(
        id=intent["id"], client_secret=intent["client_secret"], amount_minor=amount, currency=currency
    )


def _active_subscriptions(customer_id: str) -> list:
    with stripe_call("subscription.list"):
        listed = stripe.Subscription.list(customer=customer_id, status="active", **client_kwargs())
    return list(listed.get("data", []))


@service_opening_its_transaction
def subscription_create(*, attribution_id: str, payment_intent_id: str, changed_by: str = "") -> Subscription:
    """CreateStripeSubscription: refuse a second one; the hold must be `requires_capture` and
    is then cancelled; its card becomes the customer's default; the price follows the
    customer's currency; automatic tax when configured. The cost center moves to `stripe`.
    Stripe first; then the local copy and the cost center in one transaction."""
    attribution_id = normalize_attribution_id(attribution_id)
    customer = customer_get(attribution_id=attribution_id)
    if not isinstance(payment_intent_id, str) or not re.fullmatch(r"pi_[A-Za-z0-9_]+", payment_intent_id):
        raise ValidationFailed(
            "payment_intent_id must be a Stripe PaymentIntent id (pi_…).", code="invalid_intent"
        )
    if _active_subscriptions(customer.id):
        raise Conflict("This team already has an active subscription.", code="subscription_exists")
    kwargs = client_kwargs()
    with stripe_call("payment_intent.retrieve"):
        intent = stripe.PaymentIntent.retrieve(payment_intent_id, **kwargs)
    if intent.get("customer") != customer.id:
        raise ValidationFailed(
            "That payment intent belongs to another customer.", code="intent_customer_mismatch"
        )
    if intent.get("status") != "requires_capture":
        raise ValidationFailed(
            f"The card hold must be authorised first (status is {intent.get('status')},"
            " expected requires_capture).",
            code="hold_not_authorised",
        )
    payment_method = intent.get("payment_method")
    with stripe_call("payment_intent.cancel"):
        stripe.PaymentIntent.cancel(payment_intent_id, **kwargs)
    with stripe_call("payment_method.attach"):
        method = stripe.PaymentMethod.retrieve(payment_method, **kwargs)
        if method.get("customer") != customer.id:
            stripe.PaymentMethod.attach(payment_method, customer=customer.id, **kwargs)
    with stripe_call("customer.update"):
        stripe.Customer.modify(
            customer.id, invoice_settings={"default_payment_method": payment_method}, **kwargs
        )
    currency = _currency(preferred_currency(customer))
    params = {
        "customer": customer.id,
        "items": [{"price": settings.STRIPE_PRICE_IDS[currency]}],
        "default_payment_method": payment_method,
        "metadata": {"attributionId": attribution_id},
    }
    if settings.STRIPE_AUTOMATIC_TAX:
        params["automatic_tax"] = {"enabled": True}
    with stripe_call("subscription.create"):
        created = stripe.Subscription.create(
            **params, idempotency_key=f"subscription-{attribution_id}-{payment_intent_id}", **kwargs
        )
    with durable_transaction():
        subscription = Subscription.sync_from_stripe_data(created, api_key=kwargs["api_key"])
        cost_center_set_in_callers_transaction(
            attribution_id=attribution_id, billing_strategy="stripe", changed_by=changed_by or "stripe"
        )
    return subscription


@service_opening_its_transaction
def subscription_cancel(*, attribution_id: str, changed_by: str = "") -> list[str]:
    """CancelSubscription: cancel the active subscription(s); the cost center goes back to
    `other` (the `customer.subscription.deleted` webhook does the same, idempotently).
    Stripe first; then the local copies and the cost center in one transaction."""
    attribution_id = normalize_attribution_id(attribution_id)
    customer = customer_get(attribution_id=attribution_id)
    active = _active_subscriptions(customer.id)
    if not active:
        raise NotFound("This team has no active subscription.", code="no_subscription")
    results = []
    for sub in active:
        with stripe_call("subscription.cancel"):
            results.append(stripe.Subscription.cancel(sub["id"], **client_kwargs()))
    with durable_transaction():
        for result in results:
            Subscription.sync_from_stripe_data(result, api_key=client_kwargs()["api_key"])
        cost_center_set_in_callers_transaction(
            attribution_id=attribution_id, billing_strategy="other", changed_by=changed_by or "stripe"
        )
    return [sub["id"] for sub in active]


@dataclass(frozen=True)
class PriceInformation:
    currency: str
    price_id: str
    credits_per_unit: int
    unit_amount: Decimal
    human_readable: str


@writes_nothing
def price_information(*, attribution_id: str) -> PriceInformation:
    """GetPriceInformation: what one credit costs in the team's currency."""
    attribution_id = normalize_attribution_id(attribution_id)
    customer = customer_for_attribution(attribution_id)
    currencies = sorted(settings.STRIPE_PRICE_IDS)
    if not currencies:
        raise NotFound("No Stripe prices are configured.", code="no_prices")
    currency = preferred_currency(customer) if customer else ("eur" if "eur" in currencies else currencies[0])
    price_id = settings.STRIPE_PRICE_IDS.get(currency) or settings.STRIPE_PRICE_IDS[currencies[0]]
    with stripe_call("price.retrieve"):
        price = stripe.Price.retrieve(price_id, **client_kwargs())
    minor = Decimal(str(price.get("unit_amount_decimal") or price.get("unit_amount") or 0))
    divisor = Decimal(1) if currency in ZERO_DECIMAL_CURRENCIES else Decimal(100)
    amount = minor / divisor
    return PriceInformation(
        currency=currency,
        price_id=price_id,
        credits_per_unit=1,
        unit_amount=amount,
        human_readable=f"1 credit = {amount.normalize():f} {currency.upper()}, billed monthly in arrears",
    )


@writes_nothing
def subscriptions_tax_state_update(*, customer_id: str) -> list[str]:
    """UpdateCustomerSubscriptionsTaxState: automatic tax on when the customer has an address.
    Only Stripe is written (the `customer.updated` webhook calls it)."""
    kwargs = client_kwargs()
    with stripe_call("customer.retrieve"):
        customer = stripe.Customer.retrieve(customer_id, **kwargs)
    enabled = bool(settings.STRIPE_AUTOMATIC_TAX and customer.get("address"))
    updated = []
    for sub in _active_subscriptions(customer_id):
        with stripe_call("subscription.update"):
            stripe.Subscription.modify(sub["id"], automatic_tax={"enabled": enabled}, **kwargs)
        updated.append(sub["id"])
    return updated
