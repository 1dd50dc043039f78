"""Buying credits: a Checkout Session per purchase, exactly one top-up grant per paid session.

Stripe here is the loopback fake (checkout sessions, charges) in front of a real localstripe
(customers, payment intents); every webhook is signed and posted to dj-stripe's real endpoint.
Worked example throughout: Acme pays in EUR at 0.36 per credit, so 500 credits cost 180.00 EUR
(18000 cents).
"""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings

from audit.models import AuditEvent
from billing.models import CreditPurchase, WebhookOutcome
from billing.services.purchases import credit_purchase_start
from billing.services.stripe_ops import customer_create
from credits.models import Grant
from credits.selectors import ledger_balance
from credits.tests.factories import rated_usage
from tests.stripe_fake import event_payload
from usage.tests.factories import NOON

pytestmark = pytest.mark.django_db

BOUGHT = Decimal("500")
EUR_PER_CREDIT_CENTS = 36
PRICE_OF_500_CENTS = 500 * EUR_PER_CREDIT_CENTS  # 18000: 180.00 EUR


@pytest.fixture
def customer(stripe_fake, team):
    return customer_create(
        attribution_id=team.attribution_id, currency="eur", email="billing@acme.test", name="Acme"
    )


@pytest.fixture
def start(customer, team):
    def start_purchase(credits="500") -> CreditPurchase:
        return credit_purchase_start(
            attribution_id=team.attribution_id,
            credits=credits,
            success_url="https://tally.test/teams/acme/billing/?purchase=paid",
            cancel_url="https://tally.test/teams/acme/billing/?purchase=cancelled",
            created_by="alice",
        )

    return start_purchase


def grants_of(purchase: CreditPurchase):
    return Grant.objects.filter(ledger__attribution_id=purchase.attribution_id, metadata__kind="top-up")


def test_buying_500_credits_opens_one_checkout_session_for_180_eur(start, stripe_fake, customer, team):
    purchase = start("500")

    assert purchase.status == "open"
    assert purchase.credits == BOUGHT
    assert (purchase.amount_minor, purchase.currency) == (PRICE_OF_500_CENTS, "eur")
    assert purchase.checkout_url == f"{stripe_fake.url}/pay/{purchase.session_id}"
    assert purchase.session_id.startswith("cs_test_")
    [(_, _, sent)] = [r for r in stripe_fake.requests if r[:2] == ("POST", "/v1/checkout/sessions")]
    assert sent["mode"] == "payment"
    assert (sent["customer"], sent["currency"]) == (customer.id, "eur")
    [item] = sent["line_items"]
    assert item["quantity"] == "1"
    assert item["price_data"]["unit_amount"] == str(PRICE_OF_500_CENTS)
    assert item["price_data"]["product_data"]["name"] == "500 Tally credits"
    assert sent["metadata"]["attributionId"] == team.attribution_id
    assert sent["metadata"]["credits"] == "500"
    assert sent["payment_intent_data"]["metadata"] == sent["metadata"]
    assert sent["client_reference_id"] == sent["metadata"]["purchase"]
    assert sent["success_url"].endswith("?purchase=paid")
    assert not Grant.objects.exists()  # nothing is granted before Stripe says it is paid
    assert AuditEvent.objects.filter(action="credit_purchase.started", object_id=str(purchase.pk)).exists()


@pytest.mark.parametrize(
    ("credits", "code"),
    [
        ("99", "below_minimum"),  # the EUR minimum is 100
        ("100001", "above_maximum"),  # the maximum 100,000
        ("250.5", "invalid_credits"),  # whole credits only
        ("0", "invalid_credits"),
        ("-5", "invalid_credits"),
        ("lots", "invalid_credits"),
    ],
)
def test_an_amount_outside_the_eur_terms_is_refused_and_nothing_is_stored(start, stripe_fake, credits, code):
    from core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        start(credits)
    assert refused.value.code == code
    assert not CreditPurchase.objects.exists()
    assert not [r for r in stripe_fake.requests if r[1] == "/v1/checkout/sessions"]


def test_without_a_stripe_customer_the_owner_is_told_to_set_up_billing_first(stripe_fake, team):
    from core.errors import Conflict

    with pytest.raises(Conflict) as refused:
        credit_purchase_start(
            attribution_id=team.attribution_id,
            credits="500",
            success_url="https://t/",
            cancel_url="https://t/",
        )
    assert refused.value.code == "billing_not_set_up"
    assert "Set up billing first" in refused.value.message
    assert not CreditPurchase.objects.exists()


def test_a_paid_session_grants_500_credits_once_whatever_the_deliveries(
    start, stripe_fake, deliver_webhook, team
):
    purchase = start("500")
    paid = stripe_fake.mark_session_paid(purchase.session_id)
    completed = event_payload("checkout.session.completed", paid)

    assert deliver_webhook(completed).status_code == 200
    assert deliver_webhook(completed).status_code == 200  # the same delivery again
    assert deliver_webhook(event_payload("checkout.session.completed", paid)).status_code == 200  # new id
    assert deliver_webhook(event_payload("checkout.session.async_payment_succeeded", paid)).status_code == 200
    # An `expired` delivered late (Stripe does not order deliveries) changes nothing.
    assert (
        deliver_webhook(event_payload("checkout.session.expired", {**paid, "status": "expired"})).status_code
        == 200
    )

    [grant] = grants_of(purchase)
    purchase.refresh_from_db()
    assert purchase.status == "paid"
    assert purchase.grant == grant
    assert purchase.payment_intent_id == paid["payment_intent"]
    assert purchase.paid_at is not None
    assert grant.amount == BOUGHT
    assert grant.priority == settings.TALLY_TOPUP_PRIORITY
    assert (grant.expiration_count, grant.expiration_unit) == (12, "MONTH")  # TALLY_TOPUP_EXPIRATION
    assert grant.metadata == {
        "kind": "top-up",
        "source": "checkout",
        "checkout_session": purchase.session_id,
        "credit_purchase": purchase.pk,
        "name": "Bought 500 credits",
    }
    assert ledger_balance(attribution_id=team.attribution_id, at=grant.effective_at).balance == BOUGHT
    assert AuditEvent.objects.filter(action="credit_purchase.paid", object_id=str(purchase.pk)).count() == 1
    assert AuditEvent.objects.filter(action="grant.created", object_id=str(grant.pk)).count() == 1
    outcomes = WebhookOutcome.objects.filter(handler="credit_purchase").order_by("created_at")
    assert [o.status for o in outcomes] == ["succeeded"] * 4
    assert outcomes[0].attribution_id == team.attribution_id


def test_a_topup_expiry_setting_of_nothing_makes_a_grant_that_never_expires(
    start, stripe_fake, deliver_webhook, settings
):
    settings.TALLY_TOPUP_EXPIRATION = ""
    settings.TALLY_TOPUP_PRIORITY = 3
    purchase = start("200")
    paid = stripe_fake.mark_session_paid(purchase.session_id)
    assert deliver_webhook(event_payload("checkout.session.completed", paid)).status_code == 200
    [grant] = grants_of(purchase)
    assert (grant.amount, grant.priority, grant.expires_at) == (Decimal("200"), 3, None)


def test_completed_but_unpaid_waits_and_async_success_then_grants(start, stripe_fake, deliver_webhook):
    purchase = start("500")
    session = stripe_fake.session(purchase.session_id)
    session.update(status="complete")  # a bank debit: complete, payment still pending
    unpaid = stripe_fake.public_session(session)
    assert deliver_webhook(event_payload("checkout.session.completed", unpaid)).status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == "open"
    assert not grants_of(purchase).exists()

    paid = stripe_fake.mark_session_paid(purchase.session_id)
    assert deliver_webhook(event_payload("checkout.session.async_payment_succeeded", paid)).status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == "paid"
    assert grants_of(purchase).count() == 1


def test_expired_and_failed_sessions_grant_nothing(start, stripe_fake, deliver_webhook):
    import stripe

    expired = start("500")
    expired_session = stripe.checkout.Session.expire(
        expired.session_id, api_key=settings.STRIPE_TEST_SECRET_KEY
    )
    assert expired_session["status"] == "expired"
    failed = start("1000")
    stripe_fake.session(failed.session_id).update(status="complete")  # a bank debit that bounced
    failed_session = stripe.checkout.Session.retrieve(
        failed.session_id, api_key=settings.STRIPE_TEST_SECRET_KEY
    )

    assert (
        deliver_webhook(event_payload("checkout.session.expired", expired_session.to_dict())).status_code
        == 200
    )
    assert (
        deliver_webhook(
            event_payload("checkout.session.async_payment_failed", failed_session.to_dict())
        ).status_code
        == 200
    )

    expired.refresh_from_db()
    failed.refresh_from_db()
    assert (expired.status, failed.status) == ("expired", "failed")
    assert not Grant.objects.exists()
    listed = stripe.checkout.Session.list(
        customer=failed_session["customer"], api_key=settings.STRIPE_TEST_SECRET_KEY
    )
    assert {s["id"]: s["status"] for s in listed["data"]} == {
        expired.session_id: "expired",
        failed.session_id: "complete",
    }


def test_the_handler_trusts_stripe_not_the_payload(start, stripe_fake, deliver_webhook):
    """A payload claiming `paid` for a session Stripe says is open grants nothing."""
    purchase = start("500")
    claimed = {**stripe_fake.public_session(stripe_fake.session(purchase.session_id))}
    claimed.update(status="complete", payment_status="paid")
    assert deliver_webhook(event_payload("checkout.session.completed", claimed)).status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == "open"
    assert not Grant.objects.exists()


def test_forged_stale_and_unsigned_deliveries_store_nothing(start, stripe_fake, deliver_webhook):
    import time

    purchase = start("500")
    paid = stripe_fake.mark_session_paid(purchase.session_id)
    event = event_payload("checkout.session.completed", paid)

    assert deliver_webhook(event, secret="whsec_forged").status_code == 400
    assert deliver_webhook(event, timestamp=int(time.time()) - 3600).status_code == 400
    assert deliver_webhook(event, signed=False).status_code == 400

    purchase.refresh_from_db()
    assert purchase.status == "open"
    assert not Grant.objects.exists()
    assert not WebhookOutcome.objects.exists()


def test_a_checkout_session_that_is_not_a_tally_purchase_is_ignored(stripe_fake, customer, deliver_webhook):
    import stripe

    stranger = stripe.checkout.Session.create(
        mode="payment",
        customer=customer.id,
        line_items=[
            {
                "quantity": 1,
                "price_data": {"currency": "eur", "unit_amount": 999, "product_data": {"name": "T-shirt"}},
            }
        ],
        success_url="https://shop.test/ok",
        api_key=settings.STRIPE_TEST_SECRET_KEY,
    )
    paid = stripe_fake.mark_session_paid(stranger["id"])
    event = event_payload("checkout.session.completed", paid)
    assert deliver_webhook(event).status_code == 200
    assert WebhookOutcome.objects.get(event_id=event["id"]).status == "ignored"
    assert not CreditPurchase.objects.exists()
    assert not Grant.objects.exists()


def test_a_paid_session_whose_row_was_never_stored_still_grants_once(start, stripe_fake, deliver_webhook):
    """The start crashed after Stripe answered: the session's metadata names the purchase."""
    purchase = start("500")
    session_id = purchase.session_id
    CreditPurchase.objects.filter(pk=purchase.pk).delete()
    paid = stripe_fake.mark_session_paid(session_id)
    for _ in range(2):
        assert deliver_webhook(event_payload("checkout.session.completed", paid)).status_code == 200
    recovered = CreditPurchase.objects.get(session_id=session_id)
    assert (recovered.status, recovered.credits, recovered.amount_minor) == (
        "paid",
        BOUGHT,
        PRICE_OF_500_CENTS,
    )
    assert grants_of(recovered).count() == 1


def test_a_refund_after_120_of_500_were_used_voids_the_380_left(start, stripe_fake, deliver_webhook, team):
    used = Decimal("120")
    with time_machine.travel(NOON, tick=False):
        purchase = start("500")
        paid = stripe_fake.mark_session_paid(purchase.session_id)
        assert deliver_webhook(event_payload("checkout.session.completed", paid)).status_code == 200
    rated_usage(team.attribution_id, used, NOON + timedelta(minutes=5))

    refund_time = NOON + timedelta(minutes=30)
    with time_machine.travel(refund_time, tick=False):
        charge = stripe_fake.refund_session(purchase.session_id)
        refunded = event_payload("charge.refunded", charge)
        assert deliver_webhook(refunded).status_code == 200
        assert deliver_webhook(refunded).status_code == 200  # again
        assert deliver_webhook(event_payload("charge.refunded", charge)).status_code == 200  # a new event

    purchase.refresh_from_db()
    assert purchase.status == "refunded"
    assert purchase.refunded_minor == PRICE_OF_500_CENTS
    assert purchase.credits_used_at_refund == used
    assert purchase.credits_voided == BOUGHT - used  # 380
    grant = purchase.grant
    assert grant.voided_at == refund_time
    assert (
        ledger_balance(attribution_id=team.attribution_id, at=refund_time + timedelta(hours=1)).balance == 0
    )
    assert AuditEvent.objects.filter(action="grant.voided", object_id=str(grant.pk)).count() == 1
    assert AuditEvent.objects.filter(action="credit_purchase.refunded").count() == 1


def test_a_partial_refund_voids_what_is_left_too(start, stripe_fake, deliver_webhook, team):
    with time_machine.travel(NOON, tick=False):
        purchase = start("500")
        paid = stripe_fake.mark_session_paid(purchase.session_id)
        assert deliver_webhook(event_payload("checkout.session.completed", paid)).status_code == 200
    with time_machine.travel(NOON + timedelta(minutes=10), tick=False):
        charge = stripe_fake.refund_session(purchase.session_id, amount_minor=PRICE_OF_500_CENTS // 2)
        assert deliver_webhook(event_payload("charge.refunded", charge)).status_code == 200
        charge = stripe_fake.refund_session(purchase.session_id)  # the rest, later
        assert deliver_webhook(event_payload("charge.refunded", charge)).status_code == 200
    purchase.refresh_from_db()
    assert (purchase.status, purchase.credits_used_at_refund, purchase.credits_voided) == (
        "refunded",
        0,
        BOUGHT,
    )
    assert purchase.refunded_minor == PRICE_OF_500_CENTS
    assert Grant.objects.filter(pk=purchase.grant_id, voided_at__isnull=False).count() == 1


def test_a_refund_of_a_charge_that_paid_no_purchase_is_ignored(stripe_fake, customer, deliver_webhook):
    from tests.stripe_fake import fixture

    charge = fixture("charge")
    charge.update(
        id=stripe_fake.new_id("charge"),
        customer=customer.id,
        invoice=None,
        balance_transaction=None,
        payment_intent=None,
        payment_method=None,
        amount_refunded=500,
        refunded=True,
    )
    stripe_fake.put("charge", charge)
    event = event_payload("charge.refunded", charge)
    assert deliver_webhook(event).status_code == 200
    assert (
        WebhookOutcome.objects.get(event_id=event["id"], handler="credit_purchase_refund").status == "ignored"
    )


def test_the_test_mode_pay_page_says_what_it_is_and_refuses_to_pay_with_nobody_to_tell(start, stripe_fake):
    import requests

    purchase = start("500")
    page = requests.get(purchase.checkout_url, timeout=30)
    assert page.status_code == 200
    assert "TEST MODE — Tally's local Stripe stand-in" in page.text
    assert "Pay 180.00 EUR" in page.text
    refused = requests.post(purchase.checkout_url, data={"action": "pay"}, allow_redirects=False, timeout=30)
    assert refused.status_code == 500
    assert "no webhook_url" in refused.text
    assert stripe_fake.session(purchase.session_id)["payment_status"] == "unpaid"
    cancelled = requests.post(
        purchase.checkout_url, data={"action": "cancel"}, allow_redirects=False, timeout=30
    )
    assert (cancelled.status_code, cancelled.headers["Location"]) == (
        303,
        "https://tally.test/teams/acme/billing/?purchase=cancelled",
    )
    assert requests.get(f"{stripe_fake.url}/pay/cs_test_nosuch", timeout=30).status_code == 404


def test_a_session_naming_a_purchase_but_no_payer_we_know_is_ignored(stripe_fake, customer, deliver_webhook):
    import stripe

    odd = stripe.checkout.Session.create(
        mode="payment",
        customer=customer.id,
        line_items=[
            {
                "quantity": 1,
                "price_data": {"currency": "eur", "unit_amount": 3600, "product_data": {"name": "x"}},
            }
        ],
        metadata={"purchase": "cp_made_up", "attributionId": "not-an-attribution", "credits": "100"},
        success_url="https://t/ok",
        api_key=settings.STRIPE_TEST_SECRET_KEY,
    )
    event = event_payload("checkout.session.completed", stripe_fake.mark_session_paid(odd["id"]))
    assert deliver_webhook(event).status_code == 200
    assert WebhookOutcome.objects.get(event_id=event["id"], handler="credit_purchase").status == "ignored"
    assert not CreditPurchase.objects.exists()
    assert not Grant.objects.exists()
