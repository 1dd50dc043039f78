"""Nobody invented, nothing lost: worked examples for an attribution id that names nobody.

`team:5b0e…` is a payer another system knows and Tally does not (no billing.Team carries that
uuid). Billing state written for it is refused with 400 `unknown_attribution` and stores
nothing; its usage is accepted, rated and kept, without a cost center of its own, and listed
in the admin as usage from an unregistered payer. Registered (the API or the admin's one
step), it bills like any team: its cost center exists, its first cycle starts at the hour of
its earliest usage, and the billable figure counts that usage.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from billing.models import Team
from billing.selectors import billable_summary
from credits.models import Grant, Ledger
from usage.models import CostCenter, UsageEntry
from usage.services import usage_rate
from usage.tests.factories import unregistered_attribution_id

pytestmark = pytest.mark.django_db

TEN_AM = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 10, 10, 20, tzinfo=UTC)


def _events(client, who, *minutes):
    body = [
        {
            "unique_key": f"run-{minute}",
            "attribution_id": who,
            "occurred_at": TEN_AM.replace(minute=minute).isoformat(),
            "amounts": {"container-seconds": 1000},
        }
        for minute in minutes
    ]
    return client.post("/api/v1/events", body, format="json")


def test_a_grant_for_a_team_nobody_registered_is_a_400_and_stores_nothing(internal_client):
    ghost = unregistered_attribution_id()

    response = internal_client.post(f"/api/v1/ledgers/{ghost}/grants", {"amount": "500"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "unknown_attribution"
    assert response.json()["message"].startswith(f"{ghost} names no registered payer")
    assert not Ledger.objects.filter(attribution_id=ghost).exists()
    assert not Grant.objects.exists()
    assert not CostCenter.objects.filter(attribution_id=ghost).exists()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/ledgers", {"subject": "{ghost}"}),
        (
            "post",
            "/api/v1/credit-notes",
            {"attribution_id": "{ghost}", "credits": "5", "description": "Sorry"},
        ),
        ("put", "/api/v1/cost-centers/{ghost}", {"spending_limit": "10"}),
    ],
)
def test_every_other_billing_write_for_nobody_is_refused_the_same_way(internal_client, method, path, body):
    ghost = unregistered_attribution_id()
    body = {k: v.format(ghost=ghost) for k, v in body.items()}

    response = getattr(internal_client, method)(path.format(ghost=ghost), body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "unknown_attribution"
    assert not Ledger.objects.filter(attribution_id=ghost).exists()
    assert not UsageEntry.objects.filter(attribution_id=ghost).exists()
    assert not CostCenter.objects.filter(attribution_id=ghost).exists()


def test_a_user_id_is_known_when_a_traffic_account_carries_it(internal_client):
    from traffic.models import TrafficAccount

    account = TrafficAccount.objects.create(
        account_uuid="0b6f2c4e-8d1a-4f3b-9e2c-7a5d1b3c9e0f",
        attribution_id="user:0b6f2c4e-8d1a-4f3b-9e2c-7a5d1b3c9e0f",
    )
    stranger = "user:6a1e0d3c-2b4f-4e8a-9c7d-1f0e2d3c4b5a"

    known = internal_client.post(
        f"/api/v1/ledgers/{account.attribution_id}/grants", {"amount": "5"}, format="json"
    )
    unknown = internal_client.post(f"/api/v1/ledgers/{stranger}/grants", {"amount": "5"}, format="json")

    assert known.status_code == 201
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "unknown_attribution"


def test_usage_of_nobody_is_kept_and_rated_then_registering_the_team_bills_it(internal_client):
    ghost = unregistered_attribution_id()

    with time_machine.travel(LATER, tick=False):
        accepted = _events(internal_client, ghost, 5, 15)
        usage_rate(now=LATER)

    assert accepted.status_code == 200, accepted.content
    # 2 x 1000 container-seconds, rated into the 10:00 entry like anyone's; no cost center.
    assert UsageEntry.objects.get(attribution_id=ghost, kind="meter").credits == Decimal("0.4")
    assert not CostCenter.objects.filter(attribution_id=ghost).exists()

    with time_machine.travel(LATER.replace(minute=30), tick=False):
        registered = internal_client.post(
            "/api/v1/teams", {"name": "Initech", "attribution_id": ghost}, format="json"
        )
        again = internal_client.post(
            "/api/v1/teams", {"name": "Initech", "attribution_id": ghost}, format="json"
        )
        renamed = internal_client.post(
            "/api/v1/teams", {"name": "Initrode", "attribution_id": ghost}, format="json"
        )
        summary = billable_summary(attribution_id=ghost)

    assert registered.status_code == 201
    assert registered.json()["attribution_id"] == ghost
    assert again.status_code == 200  # a PUT-like repeat: same id, same name
    assert again.json()["uuid"] == registered.json()["uuid"]
    assert renamed.status_code == 409
    assert renamed.json()["error"] == "team_exists"
    assert Team.objects.filter(name="Initech").count() == 1
    cost_center = CostCenter.objects.get(attribution_id=ghost)
    assert cost_center.billing_cycle_start == TEN_AM  # the hour of its earliest usage
    assert summary["billable_credits"] == Decimal("0.4")


def test_registering_a_team_with_a_user_id_is_a_400(internal_client):
    response = internal_client.post(
        "/api/v1/teams",
        {"name": "Initech", "attribution_id": "user:6a1e0d3c-2b4f-4e8a-9c7d-1f0e2d3c4b5a"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_attribution_id"


def test_the_admin_grant_form_names_the_unknown_payer_instead_of_failing(client, staff_user):
    ghost = unregistered_attribution_id()
    client.force_login(staff_user)

    response = client.post(
        "/admin/credits/grant/add/",
        {"attribution_id": ghost, "amount": "500", "priority": "1", "metadata": "{}"},
    )

    assert response.status_code == 200
    assert f"{ghost} names no registered payer" in response.content.decode()
    assert not Grant.objects.exists()


def test_the_admin_lists_usage_from_unregistered_payers_and_registers_one_in_one_step(
    client, staff_user, internal_client
):
    ghost = unregistered_attribution_id()
    with time_machine.travel(LATER, tick=False):
        _events(internal_client, ghost, 5, 15)
        usage_rate(now=LATER)
    client.force_login(staff_user)
    page = "/admin/billing/team/unregistered-payers/"

    listed = client.get(page).content.decode()
    assert ghost in listed
    assert "0.40" in listed
    assert "2026-03-10 10:00" in listed

    done = client.post(page, {"attribution_id": ghost, "name": "Initech"}, follow=True)

    team = Team.objects.get(name="Initech")
    assert team.attribution_id == ghost
    assert "it bills from now on" in done.content.decode()
    assert CostCenter.objects.get(attribution_id=ghost).billing_cycle_start == TEN_AM
    assert ghost not in client.get(page).content.decode()
