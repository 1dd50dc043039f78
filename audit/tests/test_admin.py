"""The audit trail in the admin: read-only, filtered, searched and exported as a streamed CSV;
API keys created and revoked there are audited without their secret."""

import csv
import io
import json

import pytest

from audit.models import AuditEvent
from audit.tests.factories import AuditEventFactory
from core.models import APIKey

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/audit/auditevent/"


def test_the_trail_is_read_only_in_the_admin(client, staff_user):
    event = AuditEventFactory()
    client.force_login(staff_user)
    assert client.get(f"{CHANGELIST}{event.pk}/change/").status_code == 200  # a view-only page
    assert client.post(f"{CHANGELIST}{event.pk}/change/", {"action": "x"}).status_code == 403
    assert client.get(f"{CHANGELIST}add/").status_code == 403
    assert client.post(f"{CHANGELIST}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_staff_filter_and_search_the_trail(client, staff_user):
    staff_edit = AuditEventFactory(object_id="cc-acme")
    job_reset = AuditEventFactory(
        action="ledger.reset", object_type="ledger", object_id="ledger-acme", actor_kind="job", source="job"
    )
    client.force_login(staff_user)

    def listed(params):
        response = client.get(CHANGELIST, params)
        assert response.status_code == 200
        return {e.pk for e in response.context["cl"].result_list}

    assert listed({"action": "ledger.reset"}) == {job_reset.pk}
    assert listed({"actor_kind": "user", "source": "admin"}) == {staff_edit.pk}
    assert listed({"q": "cc-acme"}) == {staff_edit.pk}
    assert listed({"q": job_reset.attribution_id.upper()}) == {job_reset.pk}


def test_the_csv_export_streams_every_selected_event(client, staff_user):
    events = [AuditEventFactory() for _ in range(3)]
    client.force_login(staff_user)

    response = client.post(
        CHANGELIST, {"action": "export_csv", "select_across": "1", "_selected_action": [events[0].pk]}
    )

    assert response.status_code == 200
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(r["id"]) for r in rows] == [e.pk for e in events]  # oldest first
    assert json.loads(rows[0]["after"]) == {"spending_limit": "800.000000"}
    assert rows[0]["actor_label"] == "finance"


def test_an_api_key_created_and_revoked_in_the_admin_is_audited_without_its_secret(client, staff_user, team):
    client.force_login(staff_user)
    created = client.post(
        "/admin/core/apikey/add/", {"name": "ci", "attribution_id": team.attribution_id}, follow=True
    )
    raw_key = next(str(m) for m in created.context["messages"] if "shown once" in str(m)).split()[-1]
    api_key = APIKey.objects.get(name="ci")
    assert raw_key.startswith("tally_") and api_key.prefix == raw_key[:12]

    client.post("/admin/core/apikey/", {"action": "revoke", "_selected_action": [api_key.pk]})

    created_event = AuditEvent.objects.get(action="api_key.created")
    revoked_event = AuditEvent.objects.get(action="api_key.revoked")
    assert created_event.after == {
        "name": "ci",
        "attribution_id": team.attribution_id,
        "prefix": api_key.prefix,
        "created_by": "finance",
        "revoked_at": None,
    }
    assert revoked_event.before["revoked_at"] is None
    assert revoked_event.after["revoked_at"] is not None
    for event in (created_event, revoked_event):
        assert (event.actor_kind, event.actor_label, event.source) == ("user", "finance", "admin")
        dumped = json.dumps([event.before, event.after])
        assert raw_key not in dumped and api_key.key_hash not in dumped


def test_an_api_key_deleted_in_the_admin_leaves_its_history_in_the_trail(client, staff_user, team_key):
    client.force_login(staff_user)
    response = client.post(f"/admin/core/apikey/{team_key.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not APIKey.objects.filter(pk=team_key.pk).exists()
    event = AuditEvent.objects.get(action="api_key.deleted")
    assert (event.object_id, event.after) == (str(team_key.pk), None)
    assert (event.before["name"], event.before["prefix"]) == ("acme key", team_key.prefix)
    assert (event.actor_label, event.source) == ("finance", "admin")
