"""The audit trail over HTTP: who is recorded for API callers, and GET /api/v1/audit-events."""

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient, APIRequestFactory

from audit.models import AuditEvent
from audit.tests.factories import AuditEventFactory
from core.auth import ApiKeyAuthentication
from core.context import SOURCE_API, actor_for_principal
from usage.models import CostCenter
from usage.tests.factories import new_attribution_id

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit-events"


def test_a_grant_created_with_the_internal_token_names_the_internal_service(internal_client):
    who = new_attribution_id()
    response = internal_client.post(
        f"/api/v1/ledgers/{who}/grants", {"amount": "100", "priority": 1}, format="json"
    )
    assert response.status_code == 201

    event = AuditEvent.objects.get(action="grant.created")
    assert (event.object_id, event.attribution_id) == (str(response.json()["id"]), who)
    assert (event.actor_kind, event.actor_label, event.source) == ("internal", "internal-service", "api")
    assert event.before is None
    assert event.after["amount"] == "100.000000"
    assert event.after["voided_at"] is None


def test_a_void_by_staff_over_the_api_records_before_and_after(internal_client, staff_user):
    who = new_attribution_id()
    grant = internal_client.post(f"/api/v1/ledgers/{who}/grants", {"amount": "100"}, format="json").json()
    staff = APIClient()
    staff.force_login(staff_user)

    voided = staff.post(f"/api/v1/ledgers/{who}/grants/{grant['id']}/void", {}, format="json")

    assert voided.status_code == 200
    event = AuditEvent.objects.get(action="grant.voided")
    assert (event.actor_kind, event.actor_label, event.source) == ("user", "finance", "api")
    assert event.before["voided_at"] is None
    assert event.after["voided_at"] == voided.json()["voided_at"]
    assert event.after["amount"] == event.before["amount"] == "100.000000"


def test_a_team_key_reading_its_cost_center_writes_nothing_to_the_trail(team_key_client, team):
    # Reads never write: before, this GET created the cost center and audited it.
    assert team_key_client.get(f"/api/v1/cost-centers/{team.attribution_id}").status_code == 200
    assert not CostCenter.objects.filter(attribution_id=team.attribution_id).exists()
    assert not AuditEvent.objects.filter(attribution_id=team.attribution_id).exists()


def test_a_team_key_acting_is_named_by_its_prefix_never_its_secret(team_key):
    request = APIRequestFactory().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {team_key.raw_key}")
    principal, _ = ApiKeyAuthentication().authenticate(request)
    actor = actor_for_principal(principal, source=SOURCE_API)
    assert (actor.kind, actor.label, actor.id) == ("api_key", team_key.prefix, str(team_key.pk))
    assert team_key.raw_key not in repr(actor)


T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def three_events():
    acme, globex = new_attribution_id(), new_attribution_id()
    return [
        AuditEventFactory(occurred_at=T0, attribution_id=acme),
        AuditEventFactory(occurred_at=T0 + timedelta(hours=1), attribution_id=acme, action="grant.created"),
        AuditEventFactory(occurred_at=T0 + timedelta(hours=2), attribution_id=globex),
    ]


def test_staff_list_the_trail_newest_first_two_per_page(client, staff_user, three_events):
    client.force_login(staff_user)
    first = client.get(URL, {"per_page": 2}).json()
    second = client.get(URL, {"per_page": 2, "page": 2}).json()

    assert [e["id"] for e in first["results"] + second["results"]] == [e.pk for e in reversed(three_events)]
    assert first["pagination"] == {"page": 1, "per_page": 2, "total": 3, "total_pages": 2}
    row = second["results"][0]
    assert row["occurred_at"] == "2026-11-01T12:00:00Z"
    assert (row["before"], row["after"]) == (
        {"spending_limit": "500.000000"},
        {"spending_limit": "800.000000"},
    )


def test_the_internal_service_filters_by_action_attribution_object_and_time(internal_client, three_events):
    acme = three_events[0].attribution_id

    def ids(**params):
        response = internal_client.get(URL, params)
        assert response.status_code == 200, response.content
        return [e["id"] for e in response.json()["results"]]

    assert ids(action="grant.created") == [three_events[1].pk]
    assert ids(attribution_id=acme.replace(acme[5:], acme[5:].upper())) == [
        three_events[1].pk,
        three_events[0].pk,
    ]
    assert ids(object_type="cost_center", object_id=three_events[2].object_id) == [three_events[2].pk]
    assert ids(**{"from": "2026-11-01T13:00:00Z", "to": "2026-11-01T14:00:00Z"}) == [three_events[1].pk]


def test_bad_filters_are_400_in_the_error_shape(internal_client):
    bad_time = internal_client.get(URL, {"from": "yesterday"})
    backwards = internal_client.get(URL, {"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"})
    too_many = internal_client.get(URL, {"per_page": 5000})
    empty_to = internal_client.get(URL + "?to=")  # present but empty: not "no bound" (schemathesis)
    empty_who = internal_client.get(URL + "?attribution_id=")
    assert [r.status_code for r in (bad_time, backwards, too_many, empty_to, empty_who)] == [400] * 5
    assert backwards.json()["error"] == "invalid_range"
    assert set(bad_time.json()) >= {"error", "message"}


def test_only_staff_and_the_internal_service_may_read_the_trail(
    api_client, team_key_client, client, owner, member, three_events
):
    assert api_client.get(URL).status_code == 401
    assert team_key_client.get(URL).status_code == 403
    assert team_key_client.get(URL).json()["error"] == "forbidden"
    for user in (owner, member):
        client.force_login(user)
        assert client.get(URL).status_code == 403
