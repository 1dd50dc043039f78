"""The BillingService over HTTP: who may do what, and Stripe failures as 502s."""

import pytest
import stripe
from django.conf import settings

pytestmark = pytest.mark.django_db

CUSTOMER = {"currency": "eur", "email": "billing@acme.test", "name": "Acme Rockets"}


def url(team, what):
    return f"/api/v1/billing/{team.attribution_id}/{what}"


def test_an_owner_creates_a_customer_holds_a_card_and_subscribes(api_client, stripe_fake, team, owner):
    api_client.force_login(owner)
    created = api_client.post(url(team, "customer"), CUSTOMER, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["currency"] == "eur"
    assert created.json()["attribution_id"] == team.attribution_id
    assert api_client.get(url(team, "customer")).json()["id"] == created.json()["id"]
    assert api_client.post(url(team, "customer"), CUSTOMER, format="json").status_code == 409

    hold = api_client.post(url(team, "hold-payment-intent")).json()
    assert hold["amount_minor"] == 100
    key = settings.STRIPE_TEST_SECRET_KEY
    method = stripe.PaymentMethod.create(
        type="card",
        card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        api_key=key,
    )
    stripe.PaymentIntent.modify(hold["id"], payment_method=method["id"], api_key=key)
    stripe.PaymentIntent.confirm(hold["id"], api_key=key)

    subscribed = api_client.post(url(team, "subscription"), {"payment_intent_id": hold["id"]}, format="json")
    assert subscribed.status_code == 201, subscribed.json()
    assert subscribed.json()["status"] == "active"
    assert (
        api_client.get(f"/api/v1/cost-centers/{team.attribution_id}").json()["billing_strategy"] == "stripe"
    )

    cancelled = api_client.delete(url(team, "subscription"))
    assert cancelled.status_code == 200
    assert cancelled.json()["cancelled"] == [subscribed.json()["id"]]


def test_members_keys_and_strangers_cannot_act(
    api_client, team_key_client, internal_client, stripe_fake, team, member, other_team
):
    api_client.force_login(member)
    assert api_client.post(url(team, "customer"), CUSTOMER, format="json").status_code == 403
    assert api_client.post(url(team, "hold-payment-intent")).status_code == 403
    assert api_client.post(url(other_team, "customer"), CUSTOMER, format="json").status_code == 404
    assert team_key_client.post(url(team, "customer"), CUSTOMER, format="json").status_code == 403
    assert team_key_client.post(url(team, "hold-payment-intent")).status_code == 403


def test_staff_may_create_customers(api_client, stripe_fake, team, staff_user):
    api_client.force_login(staff_user)
    assert api_client.post(url(team, "customer"), CUSTOMER, format="json").status_code == 201


def test_the_internal_token_acts_like_staff(internal_client, stripe_fake, team):
    # DESIGN §11: the internal token (staff's machine credential) may call every endpoint; it
    # used to get 403 owner_required on the billing actions.
    created = internal_client.post(url(team, "customer"), CUSTOMER, format="json")
    assert created.status_code == 201
    assert internal_client.get(url(team, "customer")).json()["id"] == created.json()["id"]
    assert internal_client.post(url(team, "hold-payment-intent")).status_code == 200


def test_members_and_team_keys_read_the_price(api_client, team_key_client, stripe_fake, team, member):
    api_client.force_login(member)
    body = api_client.get(url(team, "price-information")).json()
    assert body["human_readable"] == "1 credit = 0.36 EUR, billed monthly in arrears"
    assert team_key_client.get(url(team, "price-information")).status_code == 200


def test_bad_input_is_400_and_creates_nothing(api_client, stripe_fake, team, owner):
    api_client.force_login(owner)
    for body in ({**CUSTOMER, "currency": "gbp"}, {**CUSTOMER, "email": "x"}, {"currency": "eur"}):
        assert api_client.post(url(team, "customer"), body, format="json").status_code == 400
    assert not [r for r in stripe_fake.requests if r[1] == "/v1/customers" and r[0] == "POST"]
    assert api_client.post(
        url(team, "subscription"), {"payment_intent_id": "nope"}, format="json"
    ).status_code in (
        400,
        404,
    )


def test_a_stripe_failure_is_a_502_with_stripes_message_and_request_id(api_client, stripe_fake, team, owner):
    api_client.force_login(owner)
    # stripe-python retries a 500 by itself; Stripe stays down for every try.
    outage = (500, {"error": {"type": "api_error", "message": "Stripe is having a moment."}})
    stripe_fake.fail_next.extend([outage] * 5)
    response = api_client.post(url(team, "customer"), CUSTOMER, format="json")
    assert response.status_code == 502
    body = response.json()
    assert body["error"] == "stripe_error"
    assert "Stripe is having a moment." in body["message"]
    assert body["details"]["request_id"].startswith("req_")
