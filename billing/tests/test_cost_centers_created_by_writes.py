"""Cost centers are created by writes, never by reads: worked examples.

The first write that concerns a registered payer creates its cost center (usage's
`cost_centers_create_missing`), so the cycle close job, which closes existing cost centers
only, sees every payer that has usage. An attribution that names nobody gets none: its usage
is rated and kept until the payer is registered (test_unregistered_payers.py). The first
cycle starts at creation, or at the start of the hour of the attribution's earliest usage
when it already has usage then.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from audit.models import AuditEvent
from billing.models import Membership
from billing.selectors import billable_summary
from billing.services import team_create
from billing.services.cycles import cycles_close
from billing.tests.factories import MembershipFactory, TeamFactory, UserFactory
from usage.models import CostCenter, UsageEntry
from usage.services import meter_events_ingest, usage_rate
from usage.tests.factories import unregistered_attribution_id

pytestmark = pytest.mark.django_db

CREATED = datetime(2026, 3, 10, 10, 20, tzinfo=UTC)


def test_a_new_team_gets_its_cost_center_with_a_cycle_from_its_creation():
    with time_machine.travel(CREATED, tick=False):
        team = team_create(name="Acme Rockets")

    cost_center = CostCenter.objects.get(attribution_id=team.attribution_id)
    assert cost_center.billing_strategy == "other"
    assert cost_center.billing_cycle_start == CREATED
    assert cost_center.next_billing_time == datetime(2026, 4, 10, 10, 20, tzinfo=UTC)
    assert list(cost_center.versions.values_list("reason", flat=True)) == ["created"]
    assert AuditEvent.objects.filter(action="cost_center.created", object_id=str(cost_center.pk)).count() == 1


def _figures(client: Client, team) -> tuple[dict, list[str]]:
    html = client.get(f"/teams/{team.slug}/billing/").content.decode()
    shown = [line.strip() for line in html.splitlines() if 'id="balance"' in line or 'id="billable"' in line]
    return billable_summary(attribution_id=team.attribution_id), shown


def test_usage_without_a_cost_center_gets_one_from_the_rating_job_and_its_cycle_closes_a_month_later():
    team = TeamFactory()  # made straight in the database: no cost center yet
    owner = UserFactory()
    MembershipFactory(team=team, user=owner, role=Membership.Role.OWNER)
    client = Client()
    client.force_login(owner)
    who = team.attribution_id

    with time_machine.travel(CREATED, tick=False):
        for key, minute in (("a", 5), ("b", 15)):
            meter_events_ingest(
                events=[
                    {
                        "unique_key": key,
                        "attribution_id": who,
                        "occurred_at": (CREATED.replace(minute=minute)).isoformat(),
                        "amounts": {"container-seconds": 1000},
                    }
                ]
            )
        before = _figures(client, team)
        assert not CostCenter.objects.filter(attribution_id=who).exists()  # the reads wrote nothing

        usage_rate(now=CREATED)

        cost_center = CostCenter.objects.get(attribution_id=who)
        # Usage of 10:05 is in the first cycle: it starts at the hour of the earliest usage.
        assert cost_center.billing_cycle_start == datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
        assert cost_center.next_billing_time == datetime(2026, 4, 10, 10, 0, tzinfo=UTC)
        assert UsageEntry.objects.get(attribution_id=who, kind="meter").credits == Decimal("0.4")
        assert _figures(client, team) == before
        assert before[0]["balance"] == Decimal("0.4")
        assert before[0]["cycle_start"] == cost_center.billing_cycle_start

    with time_machine.travel(datetime(2026, 4, 10, 10, 5, tzinfo=UTC), tick=False):
        result = cycles_close()

    assert result["cost_centers_closed"] == 1
    cost_center.refresh_from_db()
    assert cost_center.billing_cycle_start == datetime(2026, 4, 10, 10, 0, tzinfo=UTC)
    invoice = UsageEntry.objects.get(attribution_id=who, kind="invoice")
    assert invoice.credits == Decimal("-0.4")


def test_the_rating_job_makes_no_cost_center_for_usage_of_nobody():
    team = TeamFactory()
    ghost = unregistered_attribution_id()

    with time_machine.travel(CREATED, tick=False):
        meter_events_ingest(
            events=[
                {
                    "unique_key": "a",
                    "attribution_id": who,
                    "occurred_at": CREATED.replace(minute=5).isoformat(),
                    "amounts": {"container-seconds": 1000},
                }
                for who in (team.attribution_id, ghost)
            ]
        )
        usage_rate(now=CREATED)

    assert CostCenter.objects.filter(attribution_id=team.attribution_id).exists()
    assert not CostCenter.objects.filter(attribution_id=ghost).exists()
    assert UsageEntry.objects.get(attribution_id=ghost, kind="meter").credits == Decimal("0.2")
