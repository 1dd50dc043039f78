"""Stripe operations against localstripe (customers, cards, PaymentIntents) and the loopback
Stripe fake (prices, subscriptions)."""

import pytest
import stripe
from django.conf import settings

from billing.services.stripe_ops import (
    customer_create,
    customer_for_attribution,
    hold_payment_intent_create,
    price_information,
    subscription_cancel,
    subscription_create,
)
from core.errors import Conflict, NotFound, UpstreamError, ValidationFailed
from usage.models import CostCenter

pytestmark = pytest.mark.django_db


def authorise_hold(intent_id: str) -> None:
    """What Stripe.js does in the browser: a card, then confirming the hold."""
    method = stripe.PaymentMethod.create(
        type="card",
        card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        api_key=settings.STRIPE_TEST_SECRET_KEY,
    )
    key = settings.STRIPE_TEST_SECRET_KEY
    stripe.PaymentIntent.modify(intent_id, payment_method=method["id"], api_key=key)
    confirmed = stripe.PaymentIntent.confirm(intent_id, api_key=key)
    assert confirmed["status"] == "requires_capture"


def test_customer_hold_subscribe_cancel(stripe_fake, team, owner):
    customer = customer_create(
        attribution_id=team.attribution_id,
        currency="EUR",
        email="billing@acme.test",
        name="Acme",
        created_by_user_id=owner.pk,
    )
    assert customer.metadata == {
        "attributionId": team.attribution_id,
        "preferredCurrency": "eur",
        "billingCreatorUserId": str(owner.pk),
    }
    assert customer_for_attribution(team.attribution_id).id == customer.id

    hold = hold_payment_intent_create(attribution_id=team.attribution_id)
    assert (hold.amount_minor, hold.currency) == (100, "eur")
    assert hold.client_secret.startswith(hold.id)

    with pytest.raises(ValidationFailed) as not_yet:
        subscription_create(attribution_id=team.attribution_id, payment_intent_id=hold.id)
    assert not_yet.value.code == "hold_not_authorised"

    authorise_hold(hold.id)
    subscription = subscription_create(attribution_id=team.attribution_id, payment_intent_id=hold.id)

    assert subscription.status == "active"
    assert (
        stripe.PaymentIntent.retrieve(hold.id, api_key=settings.STRIPE_TEST_SECRET_KEY)["status"]
        == "canceled"
    )
    created = next(p for m, path, p in stripe_fake.requests if m == "POST" and path == "/v1/subscriptions")
    assert created["items"] == [{"price": "price_credits_eur"}]
    assert created["automatic_tax"] == {"enabled": "true"}
    assert CostCenter.objects.get(attribution_id=team.attribution_id).billing_strategy == "stripe"

    with pytest.raises(Conflict):
        second = hold_payment_intent_create(attribution_id=team.attribution_id)
        authorise_hold(second.id)
        subscription_create(attribution_id=team.attribution_id, payment_intent_id=second.id)

    cancelled = subscription_cancel(attribution_id=team.attribution_id)
    assert cancelled == [subscription.id]
    assert CostCenter.objects.get(attribution_id=team.attribution_id).billing_strategy == "other"
    with pytest.raises(NotFound):
        subscription_cancel(attribution_id=team.attribution_id)


def test_one_customer_per_team_and_input_checked(stripe_fake, team):
    with pytest.raises(ValidationFailed):
        customer_create(attribution_id=team.attribution_id, currency="gbp", email="a@b.test", name="A")
    with pytest.raises(ValidationFailed):
        customer_create(attribution_id=team.attribution_id, currency="eur", email="nope", name="A")
    with pytest.raises(ValidationFailed):
        customer_create(attribution_id=team.attribution_id, currency="eur", email="a@b.test", name=" ")
    customer_create(attribution_id=team.attribution_id, currency="eur", email="a@b.test", name="A")
    with pytest.raises(Conflict):
        customer_create(attribution_id=team.attribution_id, currency="usd", email="a@b.test", name="A")


def test_price_information(stripe_fake, team):
    customer_create(attribution_id=team.attribution_id, currency="usd", email="a@b.test", name="A")
    info = price_information(attribution_id=team.attribution_id)
    assert info.human_readable == "1 credit = 0.4 USD, billed monthly in arrears"


def test_a_stripe_error_is_a_502_with_the_request_id(stripe_fake, team):
    stripe_fake.fail_next.append(
        (
            402,
            {"error": {"type": "card_error", "message": "Your card was declined.", "code": "card_declined"}},
        )
    )
    with pytest.raises(UpstreamError) as info:
        customer_create(attribution_id=team.attribution_id, currency="eur", email="a@b.test", name="A")
    assert info.value.status_code == 502
    assert "declined" in info.value.message
    assert info.value.details["request_id"].startswith("req_")
