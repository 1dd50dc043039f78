"""Workspace lifecycle and the ledger job (reconcile), at 1/6 credit per minute."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from core.errors import Conflict, ValidationFailed
from usage.models import UsageEntry, WorkspaceInstance
from usage.selectors import usage_balance
from usage.services import workspace_instance_report, workspace_instances_rate
from usage.tests.factories import NOON, WorkspaceInstanceFactory, new_attribution_id

MINUTE = timedelta(minutes=1)


def report(instance_id="ws-1", **kwargs):
    args = {
        "instance_id": instance_id,
        "attribution_id": kwargs.pop("attribution_id", None) or new_attribution_id(),
        "workspace_class": "g1-standard",
        "started_at": NOON,
        **kwargs,
    }
    return workspace_instance_report(**args)


@pytest.mark.django_db
def test_started_then_stopping_then_stopped():
    who = new_attribution_id()
    instance, created = report(attribution_id=who)
    assert created
    report(attribution_id=who, stopping_time=NOON + 6 * MINUTE)
    instance, created = report(attribution_id=who, stopped_time=NOON + 7 * MINUTE)
    assert not created
    assert (instance.stopping_time, instance.stopped_time) == (NOON + 6 * MINUTE, NOON + 7 * MINUTE)
    # The same report again changes nothing.
    again, _ = report(attribution_id=who, stopping_time=NOON + 6 * MINUTE, stopped_time=NOON + 7 * MINUTE)
    assert again.stopped_time == NOON + 7 * MINUTE


@pytest.mark.django_db
def test_stopped_before_started_is_refused_and_stores_nothing():
    with pytest.raises(ValidationFailed) as info:
        report(stopped_time=NOON - MINUTE)
    assert info.value.code == "stopped_before_started"
    assert WorkspaceInstance.objects.count() == 0


@pytest.mark.django_db
def test_contradicting_reports_are_conflicts():
    who = new_attribution_id()
    report(attribution_id=who, stopped_time=NOON + MINUTE)
    with pytest.raises(Conflict):
        report(attribution_id=new_attribution_id())
    with pytest.raises(Conflict):
        report(attribution_id=who, stopped_time=NOON + 2 * MINUTE)


@pytest.mark.django_db
def test_stopping_at_1206_is_one_final_credit():
    who = new_attribution_id()
    report(
        attribution_id=who,
        stopping_time=NOON + 6 * MINUTE,
        stopped_time=NOON + 6 * MINUTE + timedelta(seconds=4),
    )

    result = workspace_instances_rate(now=NOON + 10 * MINUTE)

    entry = UsageEntry.objects.get(object_id="ws-1")
    assert result["created"] == 1
    assert (entry.credits, entry.draft, entry.kind) == (Decimal("1"), False, "workspace")
    assert entry.effective_time == NOON + 6 * MINUTE
    assert entry.attribution_id == who
    assert usage_balance(attribution_id=who) == Decimal("1")


@pytest.mark.django_db
def test_running_since_noon_is_two_draft_credits_at_1212_rewritten_in_place():
    who = new_attribution_id()
    report(attribution_id=who)

    workspace_instances_rate(now=NOON + 12 * MINUTE)
    draft = UsageEntry.objects.get(object_id="ws-1")
    assert (draft.credits, draft.draft, draft.effective_time) == (Decimal("2"), True, NOON + 12 * MINUTE)

    workspace_instances_rate(now=NOON + 18 * MINUTE)
    rewritten = UsageEntry.objects.get(object_id="ws-1")
    assert rewritten.pk == draft.pk
    assert (rewritten.credits, rewritten.draft) == (Decimal("3"), True)

    report(attribution_id=who, stopping_time=NOON + 24 * MINUTE, stopped_time=NOON + 25 * MINUTE)
    result = workspace_instances_rate(now=NOON + 30 * MINUTE)
    final = UsageEntry.objects.get(object_id="ws-1")
    assert final.pk == draft.pk
    assert (final.credits, final.draft) == (Decimal("4"), False)
    assert result["finalized"] == 1

    # Final means final: later runs leave it alone.
    workspace_instances_rate(now=NOON + 90 * MINUTE)
    assert UsageEntry.objects.get(object_id="ws-1").updated_at == final.updated_at


@pytest.mark.django_db
def test_reconcile_twice_over_the_same_window_writes_the_same_entries():
    for n in range(5):
        WorkspaceInstanceFactory(
            instance_id=f"done-{n}", started_at=NOON, stopped_time=NOON + (n + 1) * MINUTE
        )
    for n in range(3):
        WorkspaceInstanceFactory(instance_id=f"live-{n}", started_at=NOON + n * MINUTE)
    now = NOON + 60 * MINUTE

    workspace_instances_rate(now=now)
    first = {e.object_id: (e.pk, e.credits, e.draft) for e in UsageEntry.objects.all()}
    second_result = workspace_instances_rate(now=now)
    second = {e.object_id: (e.pk, e.credits, e.draft) for e in UsageEntry.objects.all()}

    assert first == second
    assert len(first) == 8
    assert second_result["created"] == 0
    assert second_result["unchanged"] == 3  # the running ones, recomputed to the same values


@pytest.mark.django_db
def test_instances_beyond_the_windows_are_not_priced_but_drafts_always_are():
    # Started 11 days ago and still running: outside the 10-day running window ...
    WorkspaceInstanceFactory(instance_id="ancient", started_at=NOON - timedelta(days=11))
    workspace_instances_rate(now=NOON)
    assert not UsageEntry.objects.filter(object_id="ancient").exists()
    # ... unless it already has a draft, which is always reconciled.
    UsageEntry.objects.create(
        object_id="ancient",
        attribution_id=WorkspaceInstance.objects.get(instance_id="ancient").attribution_id,
        credits=Decimal("1"),
        effective_time=NOON,
        kind="workspace",
        draft=True,
    )
    workspace_instances_rate(now=NOON)
    assert UsageEntry.objects.get(object_id="ancient").credits == Decimal("2640")  # 264 h at 10/h


@pytest.mark.django_db(transaction=True)
def test_two_reconcile_jobs_at_once_neither_duplicate_nor_lose_entries():
    for n in range(300):
        WorkspaceInstanceFactory(
            instance_id=f"w-{n:03d}", started_at=NOON, stopped_time=NOON + (n % 7 + 1) * MINUTE
        )
    now = NOON + 60 * MINUTE
    barrier = threading.Barrier(2)
    errors = []

    def run():
        barrier.wait()
        try:
            workspace_instances_rate(now=now, batch_size=50)
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert UsageEntry.objects.count() == 300
    expected = sum(Decimal(n % 7 + 1) / 6 for n in range(300)).quantize(Decimal("0.000001"))
    total = sum(e.credits for e in UsageEntry.objects.all())
    assert abs(total - expected) < Decimal("0.001")  # each entry rounded once to 6 places
    assert all(not e.draft for e in UsageEntry.objects.all())
