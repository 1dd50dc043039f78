"""Allowances over the API (read by the team, written by staff) and in the admin (through the service)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from credits.models import AllowanceIssue, AllowanceTemplate, Grant
from usage.services import cost_center_get_or_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def cycle(team):
    start = timezone.now() - timedelta(days=5)
    return cost_center_get_or_create(attribution_id=team.attribution_id, now=start)


def test_staff_add_an_allowance_the_team_reads_it_and_it_is_issued_for_this_cycle(
    team, cycle, internal_client, team_key_client
):
    base = f"/api/v1/credits/{team.attribution_id}/allowances"

    created = internal_client.post(base, {"amount": "200", "name": "Team plan"}, format="json")

    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["amount"], body["priority"], body["expires_at_cycle_end"], body["issued_cycles"]) == (
        "200.000000",
        5,
        True,
        1,
    )
    listing = team_key_client.get(base).json()
    assert [a["name"] for a in listing["results"]] == ["Team plan"]
    assert listing["pagination"]["total"] == 1
    (grant,) = Grant.objects.filter(ledger__attribution_id=team.attribution_id)
    assert grant.metadata["kind"] == "allowance" and grant.expires_at is not None

    changed = internal_client.patch(f"{base}/{body['id']}", {"amount": "250"}, format="json")
    assert changed.json()["amount"] == "250.000000"
    assert Grant.objects.get().amount == Decimal("200")  # this cycle's grant keeps its terms
    stopped = internal_client.delete(f"{base}/{body['id']}")
    assert (stopped.status_code, stopped.json()["active"]) == (200, False)
    assert internal_client.delete(f"{base}/{body['id']}").status_code == 200  # idempotent


def test_a_team_key_may_not_add_one_and_bad_input_stores_nothing(
    team, cycle, internal_client, team_key_client
):
    base = f"/api/v1/credits/{team.attribution_id}/allowances"
    assert team_key_client.post(base, {"amount": "200"}, format="json").status_code == 403
    refused = internal_client.post(base, {"amount": "0"}, format="json")
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_amount")
    assert internal_client.patch(f"{base}/999999", {"amount": "1"}, format="json").status_code == 404
    assert not AllowanceTemplate.objects.exists() and not Grant.objects.exists()


def test_the_admin_adds_an_allowance_through_the_service_and_lists_its_issues(
    client, staff_user, team, cycle
):
    client.force_login(staff_user)
    added = client.post(
        "/admin/credits/allowancetemplate/add/",
        {
            "attribution_id": team.attribution_id,
            "name": "Plan",
            "amount": "120",
            "priority": "5",
            "expires_at_cycle_end": "on",
            "active": "on",
        },
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    template = AllowanceTemplate.objects.get()
    assert template.created_by == f"admin:{staff_user.get_username()}"
    assert AllowanceIssue.objects.filter(template=template).count() == 1  # issued for this cycle
    listing = client.get("/admin/credits/allowancetemplate/").content.decode()
    assert "Acme" in listing and "120.000000 credits" in listing  # the team by name, the unit named
    page = client.get(f"/admin/credits/allowancetemplate/{template.pk}/change/").content.decode()
    assert "issued (one grant per cycle)" in page.lower() or "Issued (one grant per cycle)" in page
    assert client.get("/admin/credits/allowanceissue/").status_code == 200
    assert client.get("/admin/usage/costcenter/").status_code == 200
