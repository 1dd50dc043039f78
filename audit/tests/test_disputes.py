"""A Stripe dispute blocks the team (recorded as the webhook's doing); finance staff resolve it
in the admin (recorded as theirs)."""

import pytest

from audit.models import AuditEvent
from billing.models import DisputeBlock
from billing.services.stripe_ops import customer_create
from tests.stripe_fake import event_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def deliver(deliver_webhook):
    return deliver_webhook


def test_a_dispute_blocked_by_stripe_and_resolved_by_staff(deliver, stripe_fake, team, client, staff_user):
    customer = customer_create(
        attribution_id=team.attribution_id, currency="eur", email="billing@acme.test", name="Acme"
    )
    dispute = stripe_fake.add_dispute(customer=customer.id, status="lost")
    event = event_payload("charge.dispute.closed", dispute)
    assert deliver(event).status_code == 200

    blocked = AuditEvent.objects.get(action="dispute.blocked")
    assert (blocked.object_type, blocked.object_id, blocked.attribution_id) == (
        "dispute",
        dispute["id"],
        team.attribution_id,
    )
    assert (blocked.actor_kind, blocked.actor_label, blocked.actor_id, blocked.source) == (
        "system",
        "stripe:charge.dispute.closed",
        event["id"],
        "webhook",
    )
    assert blocked.before is None
    assert (blocked.after["status"], blocked.after["amount_minor"]) == ("lost", dispute["amount"])
    assert AuditEvent.objects.get(action="cost_center.blocked").source == "webhook"

    block = DisputeBlock.objects.get(dispute_id=dispute["id"])
    client.force_login(staff_user)
    client.post(
        "/admin/billing/disputeblock/",
        {"action": "resolve", "_selected_action": [block.pk], "confirm": "yes"},
    )

    resolved = AuditEvent.objects.get(action="dispute.resolved")
    assert (resolved.actor_kind, resolved.actor_label, resolved.source) == ("user", "finance", "admin")
    assert (resolved.before["status"], resolved.after["status"]) == ("lost", "resolved")
    assert resolved.after["resolved_by"] == "admin:finance"
    unblocked = AuditEvent.objects.get(action="cost_center.unblocked")
    assert (unblocked.before["blocked_at"] is not None, unblocked.after["blocked_at"]) == (True, None)
    # The same delivery again changes nothing, so records nothing.
    assert deliver(event).status_code == 200
    assert AuditEvent.objects.filter(action__startswith="dispute.").count() == 2
