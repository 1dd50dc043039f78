"""Grant coverage of a cycle's first, partial hour (the outside report) and across a cycle close.

Meter usage is rated into one entry per hour, effective at the start of the hour; the credits
ledger burns grants for it at HH:00. A cycle starting at 19:33:43 must still count what grants
paid for usage at 19:34, and the hour a cycle boundary falls into is covered in one cycle only:
the new one (credits.selectors.coverage). Times are relative to today (time-machine), never a
fixed calendar date.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from billing.selectors import billable_credits
from billing.services.cycles import cycle_close
from core.months import add_months
from credits.services.grants import grant_create
from usage.models import UsageEntry
from usage.selectors import usage_balance
from usage.services import cost_center_get_or_create
from usage.services.rating import meter_rollups_rate

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)
CREDITS_PER_NODE_SECOND = Decimal("0.001")  # the seeded node-seconds rate
TODAY = (datetime.now(UTC) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)


def node_seconds_for(credits: int) -> int:
    return int(Decimal(credits) / CREDITS_PER_NODE_SECOND)


def send_usage(client, who: str, *, key: str, credits: int, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        response = client.post(
            "/api/v1/events",
            {
                "unique_key": key,
                "attribution_id": who,
                "occurred_at": at.isoformat(),
                "amounts": {"node-seconds": node_seconds_for(credits)},
            },
            format="json",
        )
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 1


def start_cycle_with_grant(who: str, *, cycle_start: datetime, grant_at: datetime, grant: str) -> None:
    with time_machine.travel(cycle_start, tick=False):
        cost_center_get_or_create(attribution_id=who)
        grant_create(attribution_id=who, amount=grant, effective_at=grant_at)


@pytest.mark.parametrize(
    "cycle_start",
    [
        pytest.param(TODAY + timedelta(hours=19, minutes=33, seconds=43), id="mid-hour (the report)"),
        pytest.param(TODAY + timedelta(hours=19, minutes=33), id="on a minute"),
        pytest.param(TODAY + timedelta(hours=19), id="on the hour"),
        pytest.param(TODAY, id="at midnight"),
    ],
)
def test_usage_in_the_cycles_first_hour_is_covered_by_the_grant_it_burned(team, team_key_client, cycle_start):
    """The report: cost center 19:33:43, a 500-credit grant effective 19:32, 450 credits used
    at 19:34 → the grant is down to 50, covered 450, billable 0 (and the same on any boundary)."""
    who = team.attribution_id
    this_minute = cycle_start.replace(second=0)
    grant_at, used_at = this_minute - MINUTE, this_minute + MINUTE  # 19:32 and 19:34 in the report
    start_cycle_with_grant(who, cycle_start=cycle_start, grant_at=grant_at, grant="500")
    send_usage(team_key_client, who, key="first-usage", credits=450, at=used_at)

    with time_machine.travel(used_at + MINUTE, tick=False):
        ledger = team_key_client.get(f"/api/v1/ledgers/{who}/balance").json()
        billable = team_key_client.get(f"/api/v1/billing/{who}/billable").json()

    assert [g["balance"] for g in ledger["grants"]] == ["50.000000"]
    assert (billable["balance"], billable["covered_by_grants"], billable["billable_credits"]) == (
        "450.000000",
        "450.000000",
        "0.000000",
    )


def test_the_first_hour_is_covered_the_same_once_the_rating_job_wrote_its_entry(team, team_key_client):
    who = team.attribution_id
    cycle_start = TODAY + timedelta(hours=19, minutes=33, seconds=43)
    start_cycle_with_grant(
        who, cycle_start=cycle_start, grant_at=TODAY + timedelta(hours=19, minutes=32), grant="500"
    )
    send_usage(
        team_key_client, who, key="first-usage", credits=450, at=TODAY + timedelta(hours=19, minutes=34)
    )

    after_the_hour = TODAY + timedelta(hours=20, minutes=30)
    with time_machine.travel(after_the_hour, tick=False):
        meter_rollups_rate()
        rated = UsageEntry.objects.get(attribution_id=who, kind="meter")
        billable = billable_credits(attribution_id=who)

    assert (rated.effective_time, rated.credits) == (TODAY + timedelta(hours=19), Decimal("450"))
    assert billable == Decimal("0")


def test_the_hour_a_cycle_closes_in_is_covered_once_in_the_new_cycle(team, team_key_client):
    """Cycle from 19:33:43 to 19:33:43 a month later, one 1,000-credit grant. Usage: 200 on the
    cycle's second day, then in the closing hour 100 at 19:13 (old cycle) and 40 at 19:38 (new
    cycle). The close writes coverage for the hours before 19:00 (200); the closing hour (140)
    is covered in the new cycle, once: billable stays 0 throughout, nothing is invoiced."""
    who = team.attribution_id
    cycle_start = TODAY - timedelta(days=40) + timedelta(hours=19, minutes=33, seconds=43)
    cycle_end = add_months(cycle_start, 1)
    start_cycle_with_grant(who, cycle_start=cycle_start, grant_at=cycle_start.replace(second=0), grant="1000")
    send_usage(team_key_client, who, key="day-two", credits=200, at=cycle_start + timedelta(days=1))
    send_usage(team_key_client, who, key="before-close", credits=100, at=cycle_end - timedelta(minutes=20))
    send_usage(team_key_client, who, key="after-close", credits=40, at=cycle_end + timedelta(minutes=5))

    closing_time = cycle_end + timedelta(minutes=10)
    with time_machine.travel(closing_time, tick=False):
        assert billable_credits(attribution_id=who) == Decimal("0")
        closed = cycle_close(attribution_id=who)
        assert billable_credits(attribution_id=who) == Decimal("0")
        billable = team_key_client.get(f"/api/v1/billing/{who}/billable").json()

    assert (closed.covered, closed.invoiced) == (Decimal("200"), Decimal("0"))
    coverage = UsageEntry.objects.get(attribution_id=who, kind="grantcoverage")
    assert (coverage.credits, coverage.effective_time) == (Decimal("-200"), cycle_end)
    assert not UsageEntry.objects.filter(attribution_id=who, kind="invoice").exists()
    assert usage_balance(attribution_id=who) == Decimal("140")  # 340 used, 200 of it covered at close
    assert (billable["cycle_start"], billable["covered_by_grants"], billable["billable_credits"]) == (
        cycle_end.isoformat().replace("+00:00", "Z"),
        "140.000000",  # the closing hour, 19:00 to 20:00, once
        "0.000000",
    )
