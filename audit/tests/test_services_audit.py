"""The audit trail as worked examples: who changed what, from where, with the values before and
after, written in the same transaction as the change."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record, audit_value, free_form
from audit.tests.factories import AuditEventFactory
from billing.services.cycles import cycles_close
from core.context import KIND_JOB, SOURCE_JOB, acting_as, job_actor, request_id_var
from core.jobs import run_job
from credits.services.grants import grant_create
from usage.models import UsageEntry
from usage.services import (
    cost_center_get_or_create,
    cost_center_set,
    credit_note_add,
    ledger_entry_write_once_in_callers_transaction,
)
from usage.tests.factories import UsageEntryFactory, new_attribution_id

pytestmark = pytest.mark.django_db

ACME_LIMIT = "500"
RAISED_LIMIT = "800"


def admin_change_cost_center(client, cost_center, *, spending_limit: str):
    return client.post(
        f"/admin/usage/costcenter/{cost_center.pk}/change/",
        {
            "spending_limit": spending_limit,
            "billing_strategy": "other",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
        follow=True,
    )


def test_staff_raises_acmes_limit_from_500_to_800_in_the_admin(client, staff_user, team, settings):
    settings.TALLY_DEFAULT_SPENDING_LIMIT = ACME_LIMIT
    cost_center = cost_center_get_or_create(attribution_id=team.attribution_id)
    client.force_login(staff_user)

    assert admin_change_cost_center(client, cost_center, spending_limit=RAISED_LIMIT).status_code == 200

    event = AuditEvent.objects.get(action="cost_center.updated")
    assert (event.object_type, event.object_id, event.attribution_id) == (
        "cost_center",
        str(cost_center.pk),
        team.attribution_id,
    )
    assert (event.actor_kind, event.actor_label, event.actor_id) == ("user", "finance", str(staff_user.pk))
    assert event.source == "admin"
    assert event.before["spending_limit"] == "500.000000"
    assert event.after["spending_limit"] == "800.000000"
    assert event.after["billing_strategy"] == "other"
    # The cost center itself was created (with the default limit) by no request and no job:
    # the system, from a shell.
    created = AuditEvent.objects.get(action="cost_center.created")
    assert (created.actor_kind, created.source, created.after["spending_limit"]) == (
        "system",
        "shell",
        "500.000000",
    )
    assert created.before is None


def test_an_unchanged_limit_and_a_refused_limit_record_nothing(client, staff_user, internal_client, team):
    cost_center = cost_center_set(attribution_id=team.attribution_id, spending_limit=RAISED_LIMIT)
    recorded = AuditEvent.objects.count()
    client.force_login(staff_user)

    admin_change_cost_center(client, cost_center, spending_limit=RAISED_LIMIT)  # no change
    admin_change_cost_center(client, cost_center, spending_limit="-5")  # refused by the service
    refused = internal_client.put(
        f"/api/v1/cost-centers/{team.attribution_id}", {"spending_limit": "-5"}, format="json"
    )

    assert refused.status_code == 400
    assert refused.json()["error"] == "negative_spending_limit"
    assert AuditEvent.objects.count() == recorded


def test_a_change_rolled_back_takes_its_audit_event_with_it():
    who = new_attribution_id()
    with pytest.raises(RuntimeError, match="after the credit note"), transaction.atomic():
        ledger_entry_write_once_in_callers_transaction(
            attribution_id=who,
            object_id=f"note:{who}",
            kind="creditnote",
            credits=Decimal("-3"),
            effective_time=timezone.now(),
            description="Outage on 2026-11-20",
        )
        assert AuditEvent.objects.filter(action="usage_entry.written", attribution_id=who).count() == 1
        raise RuntimeError("a failure after the credit note")

    assert not UsageEntry.objects.filter(attribution_id=who).exists()
    assert not AuditEvent.objects.filter(attribution_id=who).exists()


def test_a_credit_note_of_3_records_3_and_the_entry_of_minus_3():
    who = new_attribution_id()
    entry = credit_note_add(attribution_id=who, credits="3", description="Outage on 2026-11-20")

    event = AuditEvent.objects.get(action="credit_note.added")
    assert (event.object_type, event.object_id, event.attribution_id) == ("usage_entry", str(entry.pk), who)
    assert event.before is None
    assert event.after["credits"] == "3.000000"
    assert event.after["entry_credits"] == "-3.000000"
    assert event.after["description"] == "Outage on 2026-11-20"


CYCLE_START = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
DURING = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
AFTER = datetime(2026, 11, 6, 9, 0, tzinfo=UTC)
NEW_CYCLE = "2026-11-05T09:00:00Z"


def test_the_reset_job_is_the_actor_of_the_resets_it_makes(redis):
    """Usage 300, a prepaid grant of 200: the cycle close covers 200, resets the credits ledger
    and invoices the 100 left; every event names the job run."""
    who = new_attribution_id()
    cost_center_get_or_create(attribution_id=who, now=CYCLE_START)
    grant_create(attribution_id=who, amount="200", effective_at=CYCLE_START, now=CYCLE_START)
    UsageEntryFactory(attribution_id=who, credits=Decimal("300"), effective_time=DURING)

    run = run_job("billing.close_cycles", lambda: cycles_close(now=AFTER))

    assert run.outcome == "ok"
    events = {e.action: e for e in AuditEvent.objects.filter(attribution_id=who, source="job")}
    assert set(events) == {"usage_entry.written", "ledger.reset", "cost_center.usage_reset"}
    for event in events.values():
        assert (event.actor_kind, event.actor_label, event.actor_id) == (
            "job",
            "billing.close_cycles",
            str(run.pk),
        )
    reset = events["ledger.reset"]
    assert (reset.before, reset.after["last_reset_at"]) == ({"last_reset_at": None}, NEW_CYCLE)
    coverage = events["usage_entry.written"].after
    assert (coverage["kind"], coverage["credits"]) == ("grantcoverage", "-200.000000")
    usage_reset = events["cost_center.usage_reset"]
    assert usage_reset.before["billing_cycle_start"] == "2026-10-05T09:00:00Z"
    assert usage_reset.after["billing_cycle_start"] == NEW_CYCLE
    assert usage_reset.after["invoiced"] == "100.000000"


def test_the_request_id_of_the_request_is_on_its_events():
    token = request_id_var.set("req-42")
    try:
        credit_note_add(attribution_id=new_attribution_id(), credits="1", description="Goodwill")
    finally:
        request_id_var.reset(token)
    assert AuditEvent.objects.get(action="credit_note.added").request_id == "req-42"


def test_an_explicit_actor_overrides_the_current_one():
    who = new_attribution_id()
    with acting_as(job_actor(name="outer")), transaction.atomic():
        audit_record(action="ledger.created", object_type="ledger", object_id=1, attribution_id=who)
        audit_record(
            action="ledger.created",
            object_type="ledger",
            object_id=2,
            attribution_id=who,
            actor=job_actor(name="inner", run_id=7),
        )
    labels = list(
        AuditEvent.objects.filter(attribution_id=who).order_by("id").values_list("actor_label", "actor_id")
    )
    assert labels == [("outer", ""), ("inner", "7")]
    assert {e.actor_kind for e in AuditEvent.objects.filter(attribution_id=who)} == {KIND_JOB}
    assert {e.source for e in AuditEvent.objects.filter(attribution_id=who)} == {SOURCE_JOB}


def test_the_database_refuses_to_change_or_delete_an_audit_event():
    event = AuditEventFactory()
    with pytest.raises(IntegrityError, match="audit trail"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(after={"spending_limit": "9999.000000"})
    with pytest.raises(IntegrityError, match="audit trail"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).after == {"spending_limit": "800.000000"}


def test_money_is_a_decimal_string_never_a_float_and_secrets_never_enter():
    assert audit_value({"amount": Decimal("12.500000")}) == {"amount": "12.500000"}
    assert audit_value({"at": CYCLE_START}) == {"at": "2026-10-05T09:00:00Z"}
    with pytest.raises(TypeError, match="float"):
        audit_value({"amount": 12.5})
    with pytest.raises(ValueError, match="secret"):
        audit_value({"name": "acme key", "key_hash": "ab" * 32})
    # Caller-supplied JSON (grant metadata) is kept, with secrets redacted, and never fails a change.
    assert free_form({"reason": "welcome", "token": "x", "ratio": 0.5}) == {
        "reason": "welcome",
        "token": "[redacted]",
        "ratio": "0.5",
    }


@pytest.mark.django_db(transaction=True)
def test_an_audit_event_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_record(action="ledger.created", object_type="ledger", object_id=1)
    assert not AuditEvent.objects.exists()


def test_grant_metadata_with_a_token_is_recorded_redacted():
    who = new_attribution_id()
    grant = grant_create(attribution_id=who, amount="100", metadata={"reason": "welcome", "token": "s3cr3t"})
    event = AuditEvent.objects.get(action="grant.created", attribution_id=who)
    assert event.object_id == str(grant.pk)
    assert event.after["amount"] == "100.000000"
    assert event.after["metadata"] == {"reason": "welcome", "token": "[redacted]"}
    assert "s3cr3t" not in json.dumps(event.after)
