"""Finance staff's Stripe view of a cost center, and the actions that confirm first."""

import pytest

from billing.models import DisputeBlock, WebhookOutcome
from billing.services.stripe_ops import customer_create
from usage.models import CostCenter
from usage.services import cost_center_block, cost_center_get_or_create

pytestmark = pytest.mark.django_db


def test_the_cost_center_page_shows_stripe_and_webhooks(client, staff_user, stripe_fake, team):
    customer = customer_create(
        attribution_id=team.attribution_id, currency="eur", email="a@acme.test", name="Acme"
    )
    cost_center = cost_center_get_or_create(attribution_id=team.attribution_id)
    WebhookOutcome.objects.create(
        event_id="evt_1",
        event_type="invoice.paid",
        handler="invoice_paid",
        status="succeeded",
        attribution_id=team.attribution_id,
        detail="invoice in_1 paid",
    )
    client.force_login(staff_user)
    page = client.get(f"/admin/usage/costcenter/{cost_center.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert customer.id in html
    assert "invoice in_1 paid" in html
    assert "billable credits" in html.lower()


def test_resolving_a_dispute_asks_first_then_unblocks(client, staff_user, team):
    cost_center_block(attribution_id=team.attribution_id, reason="dispute dp_1")
    block = DisputeBlock.objects.create(
        dispute_id="dp_1", attribution_id=team.attribution_id, customer_id="cus_1", status="lost"
    )
    client.force_login(staff_user)
    ask = client.post("/admin/billing/disputeblock/", {"action": "resolve", "_selected_action": [block.pk]})
    assert ask.status_code == 200
    assert b"Yes, I'm sure" in ask.content
    assert CostCenter.objects.get(attribution_id=team.attribution_id).blocked_at is not None

    client.post(
        "/admin/billing/disputeblock/",
        {"action": "resolve", "_selected_action": [block.pk], "confirm": "yes"},
    )
    assert DisputeBlock.objects.get(pk=block.pk).status == "resolved"
    assert CostCenter.objects.get(attribution_id=team.attribution_id).blocked_at is None


def test_webhook_outcomes_and_usage_reports_are_read_only_lists(client, staff_user):
    client.force_login(staff_user)
    assert client.get("/admin/billing/webhookoutcome/").status_code == 200
    assert client.get("/admin/billing/usagereport/").status_code == 200
    assert client.get("/admin/billing/webhookoutcome/add/").status_code == 403


def test_the_admin_index_is_the_finance_dashboard(client, staff_user, team):
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from core.models import JobRun
    from usage.tests.factories import UsageEntryFactory

    cost_center_get_or_create(attribution_id=team.attribution_id, now=timezone.now() - timedelta(days=2))
    UsageEntryFactory(
        attribution_id=team.attribution_id, credits=Decimal("12.5"), effective_time=timezone.now()
    )
    JobRun.objects.create(job="usage.rate", started_at=timezone.now(), outcome="error", error="boom")
    client.force_login(staff_user)
    html = client.get("/admin/").content.decode()
    assert 'id="finance-dashboard"' in html
    assert team.name in html
    assert 'title="12.500000">12.50<' in html
    assert "boom" in html
    # The dashboard's former address still leads there.
    assert client.get("/admin/dashboard/")["Location"] == "/admin/"


def test_the_dashboard_is_staff_only(client, member):
    client.force_login(member)
    assert client.get("/admin/dashboard/").status_code == 302  # to the admin login
