"""Stripe webhooks through dj-stripe's real endpoint, signed with Stripe's scheme."""

import time
from decimal import Decimal

import pytest

from billing.models import DisputeBlock, WebhookOutcome
from billing.services.stripe_ops import customer_create
from core.tests.prometheus import sample, scrape
from tests.stripe_fake import event_payload
from usage.models import CostCenter, UsageEntry
from usage.selectors import usage_balance
from usage.tests.factories import UsageEntryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def deliver(deliver_webhook):
    return deliver_webhook


@pytest.fixture
def customer(stripe_fake, team):
    return customer_create(
        attribution_id=team.attribution_id, currency="eur", email="billing@acme.test", name="Acme"
    )


def test_invoice_finalized_writes_one_entry_of_minus_1031(deliver, stripe_fake, customer, team):
    UsageEntryFactory(attribution_id=team.attribution_id, credits=Decimal("1031"))
    finalized_at = int(time.time()) - 60
    invoice = stripe_fake.add_invoice(
        customer=customer.id, quantities=[1000, 0, 31, 0], finalized_at=finalized_at
    )
    event = event_payload("invoice.finalized", invoice)

    first = deliver(event)
    assert first.status_code == 200, first.content

    entry = UsageEntry.objects.get(kind="invoice", attribution_id=team.attribution_id)
    assert entry.credits == Decimal("-1031")
    assert entry.object_id == f"invoice:{invoice['id']}"
    assert int(entry.effective_time.timestamp()) == finalized_at
    assert usage_balance(attribution_id=team.attribution_id) == Decimal("0")
    assert WebhookOutcome.objects.get(event_id=event["id"]).status == "succeeded"

    again = deliver(event)  # the same delivery again
    also = deliver(event_payload("invoice.finalized", invoice))  # a new event for the same invoice
    assert (again.status_code, also.status_code) == (200, 200)
    assert UsageEntry.objects.filter(kind="invoice", attribution_id=team.attribution_id).count() == 1
    assert usage_balance(attribution_id=team.attribution_id) == Decimal("0")


def test_an_invoice_for_an_unknown_customer_is_recorded_and_ignored(deliver, stripe_fake, localstripe_url):
    import stripe
    from django.conf import settings

    stranger = stripe.Customer.create(email="someone@else.test", api_key=settings.STRIPE_TEST_SECRET_KEY)
    invoice = stripe_fake.add_invoice(customer=stranger["id"], quantities=[5], finalized_at=int(time.time()))
    event = event_payload("invoice.finalized", invoice)
    response = deliver(event)
    assert response.status_code == 200
    outcome = WebhookOutcome.objects.get(event_id=event["id"])
    assert outcome.status == "ignored"
    assert not UsageEntry.objects.filter(kind="invoice").exists()


def test_unsigned_wrongly_signed_and_stale_deliveries_are_400_and_change_nothing(
    deliver, stripe_fake, customer
):
    from djstripe.models import Event, WebhookEventTrigger

    invoice = stripe_fake.add_invoice(customer=customer.id, quantities=[7], finalized_at=int(time.time()))
    event = event_payload("invoice.finalized", invoice)

    assert deliver(event, signed=False).status_code == 400
    assert deliver(event, secret="whsec_forged").status_code == 400
    assert deliver(event, timestamp=int(time.time()) - 3600).status_code == 400

    assert not UsageEntry.objects.filter(kind="invoice").exists()
    assert Event.objects.count() == 0
    assert not WebhookOutcome.objects.exists()
    # dj-stripe keeps a record of each signed-but-invalid delivery, nothing else.
    assert WebhookEventTrigger.objects.filter(valid=False).count() == 2


def test_subscription_deleted_moves_the_cost_center_back_to_other(deliver, stripe_fake, customer, team):
    from usage.services import cost_center_set

    cost_center_set(attribution_id=team.attribution_id, spending_limit="10")
    cost_center_set(attribution_id=team.attribution_id, billing_strategy="stripe", spending_limit="1000")
    sub = stripe_fake.create_subscription(
        {"customer": customer.id, "items": [{"price": "price_credits_eur"}]}
    )[1]
    sub["status"] = "canceled"
    for _ in range(2):
        assert deliver(event_payload("customer.subscription.deleted", sub)).status_code == 200
    cost_center = CostCenter.objects.get(attribution_id=team.attribution_id)
    assert cost_center.billing_strategy == "other"
    assert cost_center.spending_limit == Decimal("10")


def test_dispute_created_blocks_the_team_and_its_owners_until_won(
    deliver, stripe_fake, customer, team, other_team, owner, internal_client
):
    dispute = stripe_fake.add_dispute(customer=customer.id)
    assert deliver(event_payload("charge.dispute.created", dispute)).status_code == 200

    block = DisputeBlock.objects.get(dispute_id=dispute["id"])
    assert block.status == "open"
    assert list(block.blocked_users.all()) == [owner]
    assert CostCenter.objects.get(attribution_id=team.attribution_id).blocked_at is not None
    assert not CostCenter.objects.filter(
        attribution_id=other_team.attribution_id, blocked_at__isnull=False
    ).exists()

    stripe_fake.get("dispute", dispute["id"])["status"] = "won"
    assert (
        deliver(event_payload("charge.dispute.closed", stripe_fake.get("dispute", dispute["id"]))).status_code
        == 200
    )
    assert DisputeBlock.objects.get(dispute_id=dispute["id"]).status == "won"
    assert CostCenter.objects.get(attribution_id=team.attribution_id).blocked_at is None


def test_a_lost_dispute_stays_blocked_until_staff_resolve_it(deliver, stripe_fake, customer, team):
    from billing.services.disputes import dispute_resolve

    dispute = stripe_fake.add_dispute(customer=customer.id, status="lost")
    # Out of order: the closing event arrives first, then the creation; the state is Stripe's.
    deliver(event_payload("charge.dispute.closed", dispute))
    deliver(event_payload("charge.dispute.created", {**dispute, "status": "needs_response"}))
    assert DisputeBlock.objects.get(dispute_id=dispute["id"]).status == "lost"
    assert CostCenter.objects.get(attribution_id=team.attribution_id).blocked_at is not None

    dispute_resolve(dispute_id=dispute["id"], resolved_by="finance")
    assert CostCenter.objects.get(attribution_id=team.attribution_id).blocked_at is None


def test_customer_updated_with_a_new_address_updates_tax_state(deliver, stripe_fake, customer):
    sub = stripe_fake.create_subscription(
        {"customer": customer.id, "items": [{"price": "price_credits_eur"}]}
    )[1]
    event = event_payload(
        "customer.updated", {"id": customer.id, "object": "customer", "address": {"country": "DE"}}
    )
    event["data"]["previous_attributes"] = {"address": None}
    assert deliver(event).status_code == 200
    modified = [
        p for m, path, p in stripe_fake.requests if m == "POST" and path == f"/v1/subscriptions/{sub['id']}"
    ]
    assert modified and "automatic_tax" in modified[-1]
    unchanged = event_payload("customer.updated", {"id": customer.id, "object": "customer"})
    unchanged["data"]["previous_attributes"] = {"name": "Old"}
    deliver(unchanged)
    assert WebhookOutcome.objects.get(event_id=unchanged["id"]).status == "ignored"


def test_a_dispute_denies_the_entitlement_for_that_team_only(
    deliver, stripe_fake, customer, team, other_team, internal_client
):
    from credits.services.grants import grant_create

    for who in (team, other_team):
        grant_create(attribution_id=who.attribution_id, amount="100")

    def access(who):
        return internal_client.get(f"/api/v1/entitlements/{who.attribution_id}/credits").json()["has_access"]

    assert (access(team), access(other_team)) == (True, True)
    deliver(event_payload("charge.dispute.created", stripe_fake.add_dispute(customer=customer.id)))
    assert (access(team), access(other_team)) == (False, True)


def _moved(before, after, name, **labels):
    return sample(after, name, **labels) - sample(before, name, **labels)


def test_deliveries_and_handler_outcomes_are_counted(client, deliver, stripe_fake, customer, team):
    invoice = stripe_fake.add_invoice(customer=customer.id, quantities=[3], finalized_at=int(time.time()))
    event = event_payload("invoice.finalized", invoice)
    before = scrape(client)

    assert deliver(event).status_code == 200
    assert deliver(event).status_code == 200  # Stripe redelivers
    assert deliver(event, secret="whsec_forged").status_code == 400

    after = scrape(client)
    deliveries, handled = "tally_stripe_webhook_deliveries_total", "tally_stripe_webhooks_total"
    assert _moved(before, after, deliveries, type="invoice.finalized", outcome="processed") == 2
    assert _moved(before, after, deliveries, type="unverified", outcome="invalid") == 1
    # dj-stripe hands a redelivered event id to no handler again: one handled, two delivered.
    assert _moved(before, after, handled, type="invoice.finalized", outcome="succeeded") == 1
    assert _moved(before, after, "tally_stripe_calls_total", resource="invoice.retrieve", status="ok") >= 1


def test_a_failing_handler_is_counted_as_an_error_with_its_stripe_call(
    client, deliver, stripe_fake, customer
):
    vanished = {
        **stripe_fake.add_invoice(customer=customer.id, quantities=[3], finalized_at=int(time.time())),
        "id": "in_vanished",
    }
    before = scrape(client)

    response = deliver(event_payload("invoice.finalized", vanished))

    after = scrape(client)
    assert response.status_code == 500  # Stripe will retry
    assert (
        _moved(
            before, after, "tally_stripe_webhook_deliveries_total", type="invoice.finalized", outcome="error"
        )
        == 1
    )
    assert (
        _moved(before, after, "tally_stripe_webhooks_total", type="invoice.finalized", outcome="error") == 1
    )
    assert _moved(before, after, "tally_stripe_calls_total", resource="invoice.retrieve", status="error") == 1


def test_a_customer_known_only_to_stripe_is_resolved_from_stripes_metadata(stripe_fake, team):
    """No local dj-stripe copy yet (a webhook can arrive before the sync): Stripe's metadata answers."""
    import stripe
    from django.conf import settings

    from billing.services.stripe_ops import attribution_for_customer

    remote = stripe.Customer.create(
        email="billing@acme.test",
        metadata={"attributionId": team.attribution_id},
        api_key=settings.STRIPE_TEST_SECRET_KEY,
    )
    assert attribution_for_customer(remote["id"]) == team.attribution_id
    assert attribution_for_customer("cus_nobody") is None
