"""The credit-purchase endpoints: who may start one, what a refused amount answers, the list."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from billing.models import CreditPurchase
from billing.services.stripe_ops import customer_create
from tests.stripe_fake import event_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(stripe_fake, team):
    return customer_create(
        attribution_id=team.attribution_id, currency="usd", email="billing@acme.test", name="Acme"
    )


@pytest.fixture
def owner_client(owner) -> APIClient:
    client = APIClient()
    client.force_login(owner)
    return client


def url(team) -> str:
    return f"/api/v1/billing/{team.attribution_id}/credit-purchases"


def test_an_owner_buys_2000_credits_for_800_usd_and_gets_the_checkout_url(
    owner_client, customer, team, stripe_fake
):
    response = owner_client.post(url(team), {"credits": "2000"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    purchase = CreditPurchase.objects.get()
    assert body["id"] == purchase.pk
    assert body["status"] == "open"
    assert body["credits"] == "2000.000000"
    assert (body["amount_minor"], body["currency"]) == (2000 * 40, "usd")  # 0.40 USD per credit: 800.00
    assert body["checkout_url"] == f"{stripe_fake.url}/pay/{purchase.session_id}"
    assert body["grant_id"] is None
    [(_, _, sent)] = [r for r in stripe_fake.requests if r[1] == "/v1/checkout/sessions"]
    assert sent["success_url"] == f"http://testserver/teams/{team.slug}/billing/?purchase=paid"
    assert sent["cancel_url"] == f"http://testserver/teams/{team.slug}/billing/?purchase=cancelled"


def test_the_return_urls_follow_tally_public_url(owner_client, customer, team, stripe_fake, settings):
    settings.TALLY_PUBLIC_URL = "https://billing.acme.example/"
    assert owner_client.post(url(team), {"credits": 500}, format="json").status_code == 201
    [(_, _, sent)] = [r for r in stripe_fake.requests if r[1] == "/v1/checkout/sessions"]
    assert sent["success_url"] == f"https://billing.acme.example/teams/{team.slug}/billing/?purchase=paid"


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({"credits": "99"}, "below_minimum", "The smallest purchase is 100 credits."),
        ({"credits": "100001"}, "above_maximum", "The largest purchase is 100,000 credits"),
        ({"credits": "150.5"}, "invalid_credits", "whole number of credits"),
        ({"credits": 150.5}, "invalid_credits", "whole number of credits"),
        ({"credits": "lots"}, "invalid", "credits"),
        ({}, "invalid", "credits"),
    ],
)
def test_a_refused_amount_is_a_400_with_a_sentence_and_stores_nothing(
    owner_client, customer, team, stripe_fake, body, code, words
):
    response = owner_client.post(url(team), body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"] == code, response.json()
    assert words in response.json()["message"]
    assert not CreditPurchase.objects.exists()


def test_without_a_stripe_customer_the_answer_is_409_set_up_billing_first(owner_client, team, stripe_fake):
    response = owner_client.post(url(team), {"credits": "500"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == "billing_not_set_up"
    assert response.json()["message"].startswith("Set up billing first")


def test_members_and_the_team_key_may_read_but_not_buy(member, team_key_client, customer, team, stripe_fake):
    member_client = APIClient()
    member_client.force_login(member)
    for client in (member_client, team_key_client):
        refused = client.post(url(team), {"credits": "500"}, format="json")
        assert refused.status_code == 403
        assert refused.json()["error"] == "owner_required"
        assert client.get(url(team)).status_code == 200
    assert not CreditPurchase.objects.exists()


def test_another_teams_owner_gets_404(other_team, customer, team, stripe_fake):
    from billing.models import Membership
    from billing.tests.factories import MembershipFactory, UserFactory

    stranger = UserFactory(username="mallory")
    MembershipFactory(team=other_team, user=stranger, role=Membership.Role.OWNER)
    client = APIClient()
    client.force_login(stranger)
    assert client.post(url(team), {"credits": "500"}, format="json").status_code == 404
    assert client.get(url(team)).status_code == 404


def test_the_list_shows_each_purchase_newest_first_with_what_became_of_it(
    owner_client, customer, team, stripe_fake, deliver_webhook
):
    first = owner_client.post(url(team), {"credits": "500"}, format="json").json()
    second = owner_client.post(url(team), {"credits": "1000"}, format="json").json()
    session = CreditPurchase.objects.get(pk=first["id"]).session_id
    paid = stripe_fake.mark_session_paid(session)
    assert deliver_webhook(event_payload("checkout.session.completed", paid)).status_code == 200

    listed = owner_client.get(url(team), {"per_page": 1})
    assert listed.status_code == 200
    body = listed.json()
    assert body["pagination"] == {"page": 1, "per_page": 1, "total": 2, "total_pages": 2}
    assert [p["id"] for p in body["results"]] == [second["id"]]
    older = owner_client.get(url(team), {"page": 2, "per_page": 1}).json()["results"][0]
    assert older["status"] == "paid"
    assert older["credits"] == "500.000000"
    assert older["grant_id"] is not None
    assert Decimal(older["credits"]) == Decimal(500)
