"""Billable credits, cycle close and usage reporting to Stripe, as worked examples."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from audit.models import AuditEvent
from billing.models import UsageReport
from billing.selectors import billable_credits
from billing.services.cycles import cycle_close, cycles_close
from billing.services.reporting import invoices_reconcile, usage_report_send
from billing.services.stripe_ops import customer_create
from core.context import acting_as, job_actor
from credits.services.grants import grant_create
from usage.models import CostCenter, UsageEntry
from usage.selectors import usage_balance
from usage.services import cost_center_get_or_create, cost_center_set
from usage.tests.factories import UsageEntryFactory, new_attribution_id

pytestmark = pytest.mark.django_db

CYCLE_START = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
DURING = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
AFTER = datetime(2026, 11, 6, 9, 0, tzinfo=UTC)


def prepaid_300_usage_200_grant(who: str) -> None:
    cost_center_get_or_create(attribution_id=who, now=CYCLE_START)
    grant_create(attribution_id=who, amount="200", effective_at=CYCLE_START, now=CYCLE_START)
    UsageEntryFactory(attribution_id=who, credits=Decimal("300"), effective_time=DURING)


def test_usage_300_with_a_prepaid_grant_of_200_is_100_billable():
    who = new_attribution_id()
    prepaid_300_usage_200_grant(who)
    assert usage_balance(attribution_id=who) == Decimal("300")
    assert billable_credits(attribution_id=who, now=DURING + timedelta(hours=1)) == Decimal("100")


def test_cycle_close_writes_the_grant_coverage_and_resets_the_credits_ledger():
    who = new_attribution_id()
    prepaid_300_usage_200_grant(who)
    cost_center_set(attribution_id=who, spending_limit="1000", now=CYCLE_START)

    result = cycle_close(attribution_id=who, now=AFTER)

    assert result.covered == Decimal("200")
    coverage = UsageEntry.objects.get(attribution_id=who, kind="grantcoverage")
    assert coverage.credits == Decimal("-200")
    assert coverage.effective_time == datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
    # `other`: the 100 left is invoiced (under the limit of 1,000), and the cycle moved on.
    assert UsageEntry.objects.get(attribution_id=who, kind="invoice").credits == Decimal("-100")
    assert usage_balance(attribution_id=who) == Decimal("0")
    cost_center = CostCenter.objects.get(attribution_id=who)
    assert cost_center.billing_cycle_start == datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
    from credits.models import Ledger

    assert Ledger.objects.get(attribution_id=who).resets.get().effective_at == datetime(
        2026, 11, 5, 9, 0, tzinfo=UTC
    )

    # Twice, or by the job afterwards: nothing more.
    assert cycle_close(attribution_id=who, now=AFTER) is None
    assert cycles_close(now=AFTER)["cost_centers_closed"] == 0
    assert UsageEntry.objects.filter(attribution_id=who, kind__in=["grantcoverage", "invoice"]).count() == 2


def test_a_stripe_cost_center_is_reported_100_then_nothing_new(stripe_fake, team):
    who = team.attribution_id
    cost_center_get_or_create(attribution_id=who, now=CYCLE_START)
    customer = customer_create(attribution_id=who, currency="eur", email="a@acme.test", name="Acme")
    cost_center_set(attribution_id=who, billing_strategy="stripe", now=CYCLE_START)
    grant_create(attribution_id=who, amount="200", effective_at=CYCLE_START, now=CYCLE_START)
    UsageEntryFactory(attribution_id=who, credits=Decimal("299.2"), effective_time=DURING)

    first = usage_report_send(attribution_id=who, now=DURING + timedelta(hours=1))
    second = usage_report_send(attribution_id=who, now=DURING + timedelta(hours=2))

    assert first == ("reported", 100)  # ceil(299.2 - 200)
    assert second == ("unchanged", 100)
    assert len(stripe_fake.meter_events) == 1
    (event,) = stripe_fake.meter_events.values()
    assert event["payload"] == {"stripe_customer_id": customer.id, "value": "100"}
    assert event["event_name"] == "tally_credits"

    UsageEntryFactory(attribution_id=who, credits=Decimal("5"), effective_time=DURING)
    assert invoices_reconcile(now=DURING + timedelta(hours=3))["reported"] == 1
    assert sorted(r.quantity for r in UsageReport.objects.all()) == [100, 105]


def test_a_report_lost_after_stripe_took_it_is_not_counted_twice(stripe_fake, team):
    who = team.attribution_id
    cost_center_get_or_create(attribution_id=who, now=CYCLE_START)
    customer_create(attribution_id=who, currency="eur", email="a@acme.test", name="Acme")
    cost_center_set(attribution_id=who, billing_strategy="stripe", now=CYCLE_START)
    UsageEntryFactory(attribution_id=who, credits=Decimal("42"), effective_time=DURING)
    usage_report_send(attribution_id=who, now=DURING)
    UsageReport.objects.all().delete()  # as if we crashed before recording Stripe's answer

    assert usage_report_send(attribution_id=who, now=DURING) == ("reported", 42)
    assert len(stripe_fake.meter_events) == 1  # Stripe refused the repeated identifier
    assert UsageReport.objects.get().quantity == 42


def test_the_reconcile_invoices_job_over_http(internal_client, stripe_fake, team):
    who = team.attribution_id
    customer_create(attribution_id=who, currency="eur", email="a@acme.test", name="Acme")
    cost_center_set(attribution_id=who, billing_strategy="stripe")
    UsageEntryFactory(attribution_id=who, credits=Decimal("7.5"))
    response = internal_client.post("/api/v1/jobs/reconcile-invoices")
    assert response.status_code == 200, response.json()
    assert response.json()["result"]["reported"] == 1
    again = internal_client.post("/api/v1/jobs/reconcile-invoices").json()["result"]
    assert (again["reported"], again["unchanged"]) == (0, 1)


def test_billable_over_http_for_the_team_and_nobody_else(team_key_client, team, other_team):
    from django.utils import timezone

    who = team.attribution_id
    an_hour_ago = timezone.now() - timedelta(hours=1)
    cost_center_get_or_create(attribution_id=who, now=an_hour_ago)
    grant_create(attribution_id=who, amount="200", effective_at=an_hour_ago, now=an_hour_ago)
    UsageEntryFactory(
        attribution_id=who, credits=Decimal("300"), effective_time=an_hour_ago + timedelta(minutes=30)
    )
    body = team_key_client.get(f"/api/v1/billing/{who}/billable").json()
    assert (body["balance"], body["covered_by_grants"], body["billable_credits"]) == (
        "300.000000",
        "200.000000",
        "100.000000",
    )
    assert team_key_client.get(f"/api/v1/billing/{other_team.attribution_id}/billable").status_code == 404


def test_the_spending_limit_counts_billable_credits_not_the_raw_balance(internal_client):
    from django.utils import timezone

    who = new_attribution_id()
    an_hour_ago = timezone.now() - timedelta(hours=1)
    cost_center_get_or_create(attribution_id=who, now=an_hour_ago)
    cost_center_set(attribution_id=who, spending_limit="150", now=an_hour_ago)
    grant_create(attribution_id=who, amount="200", effective_at=an_hour_ago, now=an_hour_ago)
    UsageEntryFactory(
        attribution_id=who, credits=Decimal("300"), effective_time=an_hour_ago + timedelta(minutes=5)
    )

    def entitlement():
        return internal_client.get(f"/api/v1/entitlements/{who}/credits").json()

    # Grants spent, usage balance 300, but billable only 100 of the 150 limit: still allowed.
    assert entitlement()["has_access"] is True
    UsageEntryFactory(
        attribution_id=who, credits=Decimal("50"), effective_time=an_hour_ago + timedelta(minutes=6)
    )
    assert entitlement()["has_access"] is False  # billable 150 reached the limit


@pytest.mark.django_db(transaction=True)
def test_the_job_closes_six_cost_centers_on_three_threads_each_once(reference_data):
    # Six subjects, each 300 of usage and a 200 grant: the job on three threads (each with its
    # own connection, so the rows must be committed: a transactional test) closes all six,
    # covers 6 x 200 = 1,200 and invoices 6 x 100 = 600, and a second run finds nothing.
    subjects = [new_attribution_id() for _ in range(6)]
    for who in subjects:
        prepaid_300_usage_200_grant(who)
        cost_center_set(attribution_id=who, spending_limit="1000", now=CYCLE_START)

    with acting_as(job_actor(name="billing.close_cycles")):
        result = cycles_close(now=AFTER, workers=3)

    assert result == {
        "status": "ok",
        "cost_centers_closed": 6,
        "credits_covered": "1200.000000",
        "credits_invoiced": "600.000000",
        "failed": [],
    }
    assert cycles_close(now=AFTER, workers=3)["cost_centers_closed"] == 0
    for who in subjects:
        assert UsageEntry.objects.filter(attribution_id=who, kind="grantcoverage").count() == 1
        assert UsageEntry.objects.get(attribution_id=who, kind="invoice").credits == Decimal("-100")
        assert CostCenter.objects.get(attribution_id=who).billing_cycle_start == datetime(
            2026, 11, 5, 9, 0, tzinfo=UTC
        )
    # The worker threads wrote their audit events as the job, not as "shell".
    resets = AuditEvent.objects.filter(action="ledger.reset", attribution_id__in=subjects)
    assert set(resets.values_list("actor_kind", "actor_label")) == {("job", "billing.close_cycles")}
    assert resets.count() == 6
