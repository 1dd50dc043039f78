"""Buying credits over real HTTP: the team page, the fake's hosted pay page and signed webhooks
racing each other at dj-stripe's endpoint of a live server."""

import json
import re
import threading
from decimal import Decimal

import pytest
import requests

from billing.models import CreditPurchase, WebhookOutcome
from billing.services.purchases import credit_purchase_start
from billing.services.stripe_ops import customer_create
from billing.tests.factories import DEFAULT_PASSWORD
from credits.models import Grant
from tests.stripe_fake import event_payload, sign_webhook

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def customer(stripe_fake, team, reference_data):
    return customer_create(
        attribution_id=team.attribution_id, currency="eur", email="billing@acme.test", name="Acme"
    )


@pytest.fixture
def webhook_url(live_server, stripe_webhook_endpoint, stripe_fake):
    url = f"{live_server.url}/stripe/webhook/{stripe_webhook_endpoint.djstripe_uuid}/"
    stripe_fake.webhook_url = url
    stripe_fake.webhook_secret = stripe_webhook_endpoint.secret
    return url


def post_signed(url: str, secret: str, event: dict) -> int:
    body = json.dumps(event)
    response = requests.post(
        url,
        data=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": sign_webhook(body, secret)},
        timeout=60,
    )
    return response.status_code


def deliver_at_once(url: str, secret: str, events: list[dict]) -> list[int]:
    """Each event on its own thread and connection, released together; their status codes."""
    barrier = threading.Barrier(len(events))
    statuses = [0] * len(events)

    def deliver(n: int) -> None:
        barrier.wait()
        statuses[n] = post_signed(url, secret, events[n])

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(len(events))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


def test_two_different_events_for_one_paid_session_racing_make_one_grant(
    stripe_fake, customer, team, webhook_url, stripe_webhook_endpoint
):
    """completed and async_payment_succeeded (and a second completed) arrive at the same moment,
    each on its own connection and thread of the live server: one grant of 500."""
    rounds = 3
    for _ in range(rounds):
        purchase = credit_purchase_start(
            attribution_id=team.attribution_id,
            credits="500",
            success_url="https://tally.test/ok",
            cancel_url="https://tally.test/cancel",
        )
        paid = stripe_fake.mark_session_paid(purchase.session_id)
        events = [
            event_payload("checkout.session.completed", paid),
            event_payload("checkout.session.async_payment_succeeded", paid),
            event_payload("checkout.session.completed", paid),
        ]
        statuses = deliver_at_once(webhook_url, stripe_webhook_endpoint.secret, events)
        # A delivery that lost a race inside dj-stripe's own bookkeeping answers 500 and Stripe
        # sends it again: redeliver those, as Stripe would, and the count still holds.
        for event, status in zip(events, statuses, strict=True):
            if status != 200:
                assert post_signed(webhook_url, stripe_webhook_endpoint.secret, event) == 200

        purchase.refresh_from_db()
        assert purchase.status == "paid"
        assert Grant.objects.filter(metadata__checkout_session=purchase.session_id).count() == 1
    assert CreditPurchase.objects.filter(status="paid").count() == rounds
    assert Grant.objects.filter(metadata__kind="top-up").count() == rounds
    assert sum(g.amount for g in Grant.objects.all()) == Decimal(500 * rounds)
    assert WebhookOutcome.objects.filter(handler="credit_purchase", status="succeeded").count() == 3 * rounds


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def _signed_in(live_server, username: str) -> requests.Session:
    browser = requests.Session()
    login = f"{live_server.url}/accounts/login/"
    browser.get(login, timeout=30)
    response = browser.post(
        login,
        data={
            "username": username,
            "password": DEFAULT_PASSWORD,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        headers={"Referer": login},
        timeout=30,
    )
    assert response.status_code == 200 and "sessionid" in browser.cookies, response.text[:500]
    return browser


def test_an_owner_buys_500_credits_on_the_page_pays_on_the_test_mode_page_and_sees_the_receipt(
    live_server, stripe_fake, customer, team, owner, webhook_url
):
    browser = _signed_in(live_server, "alice")
    page_url = f"{live_server.url}/teams/{team.slug}/billing/"
    page = browser.get(page_url, timeout=30)
    assert 'id="buy-credits"' in page.text
    terms = re.search(r'<p class="muted" id="buy-terms">(.*?)</p>', page.text, re.S).group(1)
    assert text_of(terms).startswith(
        "1 credit = €0.36 · from 100.00 to 100,000.00 credits (€36.00 to €36,000.00)"
    )
    assert "500.00 credits · €180.00" in page.text  # the 500 package

    started = browser.post(
        f"{page_url}buy-credits",
        data={"credits": "500", "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
        headers={"Referer": page_url},
        allow_redirects=False,
        timeout=30,
    )
    assert started.status_code == 302
    purchase = CreditPurchase.objects.get()
    assert (
        started.headers["Location"] == purchase.checkout_url == f"{stripe_fake.url}/pay/{purchase.session_id}"
    )

    checkout = requests.get(purchase.checkout_url, timeout=30)
    assert checkout.status_code == 200
    assert "TEST MODE — Tally's local Stripe stand-in" in checkout.text
    assert "180.00 EUR" in checkout.text
    assert "500 Tally credits" in checkout.text

    paid = requests.post(purchase.checkout_url, data={"action": "pay"}, allow_redirects=False, timeout=60)
    assert paid.status_code == 303
    assert paid.headers["Location"] == f"{page_url}?purchase=paid"
    assert stripe_fake.last_delivery_status == 200  # the signed checkout.session.completed

    back = browser.get(paid.headers["Location"], timeout=30)
    assert "Payment received: your credits appear as soon as Stripe confirms." in back.text
    purchase.refresh_from_db()
    assert purchase.status == "paid"
    assert purchase.grant.amount == Decimal("500")
    row = re.search(rf'<tr data-purchase="{purchase.pk}" data-status="paid">(.*?)</tr>', back.text, re.S)
    assert row, back.text
    assert "Paid (credits granted)" in row.group(1)
    assert "€180.00" in row.group(1)
    left = re.search(r'class="num nowrap remaining">(.*?)</td>', row.group(1), re.S).group(1)
    assert left == '<span class="exact" title="500.000000">500.00</span> credits'  # all 500 left


def test_cancelling_on_the_pay_page_returns_to_the_team_page_and_grants_nothing(
    live_server, stripe_fake, customer, team, owner, webhook_url
):
    browser = _signed_in(live_server, "alice")
    page_url = f"{live_server.url}/teams/{team.slug}/billing/"
    browser.get(page_url, timeout=30)
    started = browser.post(
        f"{page_url}buy-credits",
        data={"custom_credits": "1234", "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
        headers={"Referer": page_url},
        allow_redirects=False,
        timeout=30,
    )
    purchase = CreditPurchase.objects.get()
    assert (purchase.credits, purchase.amount_minor) == (Decimal("1234"), 1234 * 36)
    cancelled = requests.post(
        started.headers["Location"], data={"action": "cancel"}, allow_redirects=False, timeout=30
    )
    assert cancelled.headers["Location"] == f"{page_url}?purchase=cancelled"
    back = browser.get(cancelled.headers["Location"], timeout=30)
    assert "Purchase cancelled" in back.text
    assert not Grant.objects.exists()


def test_a_second_delivery_while_the_first_is_still_granting_waits_and_grants_nothing(
    stripe_fake, customer, team
):
    """The first delivery has granted but not committed; the second, on another connection,
    waits for the purchase row and then finds the grant (without the row lock it would grant
    again, or fail on the ledger's lock)."""
    from django.db import connection, transaction

    from billing.services.purchases import credit_purchase_sync_in_callers_transaction

    purchase = credit_purchase_start(
        attribution_id=team.attribution_id,
        credits="500",
        success_url="https://t/ok",
        cancel_url="https://t/no",
    )
    stripe_fake.mark_session_paid(purchase.session_id)
    first_granted = threading.Event()
    outcomes: dict[str, tuple] = {}

    def first():
        try:
            with transaction.atomic():
                outcomes["first"] = credit_purchase_sync_in_callers_transaction(
                    session_id=purchase.session_id, event_type="checkout.session.completed"
                )
                first_granted.set()
                threading.Event().wait(0.5)  # still holding the row lock, not committed
        finally:
            first_granted.set()
            connection.close()

    def second():
        first_granted.wait(10)
        try:
            with transaction.atomic():
                outcomes["second"] = credit_purchase_sync_in_callers_transaction(
                    session_id=purchase.session_id, event_type="checkout.session.async_payment_succeeded"
                )
        except Exception as exc:  # the outcome is what the test checks
            outcomes["second"] = ("raised", repr(exc), "")
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert outcomes["first"][0] == "succeeded" and "granted" in outcomes["first"][1]
    assert outcomes["second"][0] == "succeeded", outcomes["second"]
    assert "already granted" in outcomes["second"][1]
    assert Grant.objects.filter(metadata__checkout_session=purchase.session_id).count() == 1
