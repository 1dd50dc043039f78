"""The team page's "Buy credits" card and "Purchases" receipts; the admin's purchase list."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine

from billing.models import CreditPurchase
from billing.services.purchases import credit_purchase_start
from billing.services.stripe_ops import customer_create
from credits.tests.factories import rated_usage
from tests.stripe_fake import event_payload
from usage.tests.factories import NOON

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(stripe_fake, team):
    return customer_create(
        attribution_id=team.attribution_id, currency="eur", email="billing@acme.test", name="Acme"
    )


def buy_and_pay(team, stripe_fake, deliver_webhook, credits: str) -> CreditPurchase:
    purchase = credit_purchase_start(
        attribution_id=team.attribution_id,
        credits=credits,
        success_url="https://t/ok",
        cancel_url="https://t/no",
    )
    paid = stripe_fake.mark_session_paid(purchase.session_id)
    assert deliver_webhook(event_payload("checkout.session.completed", paid)).status_code == 200
    purchase.refresh_from_db()
    return purchase


def test_an_owner_sees_packages_a_custom_amount_and_the_eur_price(client, team, owner, customer):
    client.force_login(owner)
    html = client.get(f"/teams/{team.slug}/billing/").content.decode()
    assert 'id="buy-credits"' in html
    assert html.index('id="left-heading"') < html.index('id="buy-heading"') < html.index('id="cycle-heading"')
    for credits, price in (("500.00", "€180.00"), ("2,000.00", "€720.00"), ("10,000.00", "€3,600.00")):
        assert f"{credits} credits · {price}</button>" in html
    assert 'name="custom_credits" min="100" max="100000" step="1"' in html
    assert 'title="0.36 EUR">€0.36</span>' in html


def test_without_a_customer_the_owner_is_told_to_set_up_billing_first(client, team, owner, stripe_fake):
    client.force_login(owner)
    html = client.get(f"/teams/{team.slug}/billing/").content.decode()
    assert 'id="buy-unavailable">Set up billing first' in html
    assert 'id="buy-form"' not in html


def test_a_refused_amount_comes_back_as_a_message_and_stores_nothing(client, team, owner, customer):
    client.force_login(owner)
    response = client.post(f"/teams/{team.slug}/billing/buy-credits", {"custom_credits": "50"}, follow=True)
    assert "The smallest purchase is 100 credits." in response.content.decode()
    assert not CreditPurchase.objects.exists()


def test_a_member_sees_the_receipts_but_no_buy_form_and_cannot_buy(
    client, team, member, customer, stripe_fake, deliver_webhook
):
    buy_and_pay(team, stripe_fake, deliver_webhook, "500")
    client.force_login(member)
    html = client.get(f"/teams/{team.slug}/billing/").content.decode()
    assert 'id="purchases"' in html
    assert 'id="buy-credits"' not in html
    assert client.post(f"/teams/{team.slug}/billing/buy-credits", {"credits": "500"}).status_code == 404
    assert CreditPurchase.objects.count() == 1


def test_the_receipt_and_the_grants_table_agree_on_what_is_left(
    client, team, owner, customer, stripe_fake, deliver_webhook, internal_client
):
    """Bought 500 at noon, 120 used five minutes later: the receipt says 380 left, like the API."""
    with time_machine.travel(NOON, tick=False):
        purchase = buy_and_pay(team, stripe_fake, deliver_webhook, "500")
        open_one = credit_purchase_start(
            attribution_id=team.attribution_id,
            credits="100",
            success_url="https://t/",
            cancel_url="https://t/",
        )
    rated_usage(team.attribution_id, Decimal("120"), NOON + timedelta(minutes=5))

    client.force_login(owner)
    html = client.get(f"/teams/{team.slug}/billing/").content.decode()
    api = internal_client.get(f"/api/v1/ledgers/{team.attribution_id}/balance").json()
    [grant] = [g for g in api["grants"] if g["id"] == purchase.grant_id]
    assert grant["balance"] == "380.000000"
    receipt = html[html.index(f'data-purchase="{purchase.pk}"') :].split("</tr>")[0]
    assert 'title="500.000000">500.00</span> credits' in receipt
    assert "€180.00" in receipt
    assert "Paid (credits granted)" in receipt
    assert (
        '<td class="num nowrap remaining"><span class="exact" title="380.000000">380.00</span> credits'
        in receipt
    )
    assert "UTC" in receipt  # the date says its zone
    pending = html[html.index(f'data-purchase="{open_one.pk}"') :].split("</tr>")[0]
    assert "Open (waiting for payment)" in pending
    assert '<td class="num nowrap remaining">—</td>' in pending
    assert 'data-kind="top-up"' in html  # the grant is shown as a top-up under what is left


@pytest.mark.parametrize(
    ("outcome", "words"),
    [
        ("paid", "Payment received: your credits appear as soon as Stripe confirms."),
        ("cancelled", "Purchase cancelled"),
    ],
)
def test_coming_back_from_checkout_says_what_happened(client, team, owner, customer, outcome, words):
    client.force_login(owner)
    assert words in client.get(f"/teams/{team.slug}/billing/?purchase={outcome}").content.decode()


def test_finance_sees_purchases_by_team_name_with_money_and_status(
    client, team, customer, stripe_fake, deliver_webhook
):
    from billing.tests.factories import FinanceUserFactory

    purchase = buy_and_pay(team, stripe_fake, deliver_webhook, "2000")
    client.force_login(FinanceUserFactory())
    listing = client.get("/admin/billing/creditpurchase/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert ">Acme</a>" in html
    assert "€720.00" in html
    assert 'title="2000.000000">2,000.00</span>' in html
    assert "Paid (credits granted)" in html
    expired_only = client.get("/admin/billing/creditpurchase/?status__exact=expired")
    assert expired_only.status_code == 200
    assert "€720.00" not in expired_only.content.decode()
    detail = client.get(f"/admin/billing/creditpurchase/{purchase.pk}/change/")
    assert detail.status_code == 200
    assert client.get("/admin/billing/creditpurchase/add/").status_code == 403


def test_the_database_refuses_a_paid_purchase_without_a_grant_and_a_second_row_per_session():
    from django.db import IntegrityError, transaction

    from billing.tests.factories import CreditPurchaseFactory

    for bad in (
        {"status": "paid"},
        {"status": "refunded"},
        {"credits": 0},
        {"amount_minor": 0},
        {"status": "lost"},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            CreditPurchaseFactory(**bad)
    CreditPurchaseFactory(session_id="cs_test_once")
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditPurchaseFactory(session_id="cs_test_once")
    assert CreditPurchase.objects.count() == 1
