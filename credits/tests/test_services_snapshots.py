"""Snapshots: a balance read starts from the newest one, and backdated writes delete the stale ones."""

from datetime import timedelta
from decimal import Decimal

import pytest

from credits.models import BalanceSnapshot, GrantUsage, Ledger
from credits.selectors import ledger_balance, ledger_compute
from credits.services import (
    balance_snapshot_save,
    balance_snapshots_save_due,
    feature_create,
    grant_create,
    grant_void,
)
from credits.tests.factories import T0, rated_usage
from usage.tests.factories import new_attribution_id

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def from_scratch(who, at):
    ledger = Ledger.objects.filter(attribution_id=who).first()
    computation = ledger_compute(attribution_id=who, ledger=ledger, at=at, use_snapshot=False)
    return {g.id: computation.result.balances.get(g.id) for g in computation.period_grants}, {
        f: computation.result.overage[f] for f in computation.features
    }


def as_compared(balance):
    return {gb.grant.id: gb.balance for gb in balance.grants}, {
        (None if key == "credits" else key): fb.overage for key, fb in balance.features.items()
    }


def busy_ledger(who):
    """Grants of several kinds and usage over three days."""
    grant_create(
        attribution_id=who,
        amount="100",
        priority=1,
        effective_at=T0,
        expiration_count=1,
        expiration_unit="DAY",
    )
    grant_create(attribution_id=who, amount="50", priority=2, effective_at=T0 + 6 * HOUR)
    grant_create(attribution_id=who, amount="500", priority=3, effective_at=T0 + DAY)
    for hour in range(0, 72, 3):
        rated_usage(who, 7, T0 + hour * HOUR + timedelta(minutes=17))


def test_the_job_saves_one_snapshot_per_ledger_at_the_last_settled_hour(settings):
    settings.TALLY_SNAPSHOT_GRACE_MINUTES = 10
    first, second = new_attribution_id(), new_attribution_id()
    busy_ledger(first)
    grant_create(attribution_id=second, amount="5", effective_at=T0)
    now = T0 + 3 * DAY + timedelta(seconds=42)

    result = balance_snapshots_save_due(now=now)
    again = balance_snapshots_save_due(now=now)

    assert (result["status"], result["saved"], again["saved"], again["up_to_date"]) == ("ok", 2, 0, 2)
    # now - 10 min is 23:50 the day before: the last whole hour before it is 23:00.
    assert set(BalanceSnapshot.objects.values_list("at", flat=True)) == {T0 + 3 * DAY - HOUR}


def test_a_balance_from_a_snapshot_equals_one_from_scratch():
    who = new_attribution_id()
    busy_ledger(who)
    ledger = Ledger.objects.get(attribution_id=who)
    for at in (T0 + 5 * HOUR, T0 + 20 * HOUR, T0 + DAY + HOUR, T0 + 2 * DAY):
        balance_snapshot_save(ledger_id=ledger.id, at=at)
        for cutline in (at, at + 2 * HOUR + timedelta(minutes=3), T0 + 3 * DAY):
            assert as_compared(ledger_balance(attribution_id=who, at=cutline)) == from_scratch(who, cutline)


def test_after_a_snapshot_a_balance_reads_only_the_usage_since(django_assert_max_num_queries):
    who = new_attribution_id()
    busy_ledger(who)
    balance_snapshot_save(ledger_id=Ledger.objects.get(attribution_id=who).id, at=T0 + 3 * DAY - HOUR)

    with django_assert_max_num_queries(6):
        balance = ledger_balance(attribution_id=who, at=T0 + 3 * DAY)

    assert balance.usage_queries == 1  # one phase since the snapshot, one feature: one SUM
    assert balance.usage == Decimal(7) * 24  # the whole period's usage, from the snapshot
    assert as_compared(balance) == from_scratch(who, T0 + 3 * DAY)


def test_a_backdated_grant_deletes_the_snapshots_at_or_after_it_and_their_grant_usage():
    who = new_attribution_id()
    busy_ledger(who)
    ledger = Ledger.objects.get(attribution_id=who)
    for hours in (10, 30, 50):
        balance_snapshot_save(ledger_id=ledger.id, at=T0 + hours * HOUR)
    assert GrantUsage.objects.filter(period_end__gt=T0 + 10 * HOUR).exists()

    grant_create(attribution_id=who, amount="40", priority=0, effective_at=T0 + 30 * HOUR)

    assert list(BalanceSnapshot.objects.order_by("at").values_list("at", flat=True)) == [T0 + 10 * HOUR]
    assert not GrantUsage.objects.filter(period_end__gt=T0 + 10 * HOUR).exists()
    assert as_compared(ledger_balance(attribution_id=who, at=T0 + 3 * DAY)) == from_scratch(who, T0 + 3 * DAY)


def test_a_backdated_void_deletes_the_later_snapshots():
    who = new_attribution_id()
    busy_ledger(who)
    ledger = Ledger.objects.get(attribution_id=who)
    balance_snapshot_save(ledger_id=ledger.id, at=T0 + 2 * DAY)
    third = ledger.grants.get(amount=500)

    grant_void(attribution_id=who, grant_id=third.id, voided_at=T0 + DAY + HOUR, now=T0 + 3 * DAY)

    assert not BalanceSnapshot.objects.exists()
    assert as_compared(ledger_balance(attribution_id=who, at=T0 + 3 * DAY)) == from_scratch(who, T0 + 3 * DAY)


def test_a_grant_in_the_future_keeps_the_snapshots():
    who = new_attribution_id()
    busy_ledger(who)
    balance_snapshot_save(ledger_id=Ledger.objects.get(attribution_id=who).id, at=T0 + 2 * DAY)

    grant_create(attribution_id=who, amount="1", effective_at=T0 + 2 * DAY + HOUR)

    assert BalanceSnapshot.objects.count() == 1


def test_a_feature_granted_after_a_snapshot_counts_its_earlier_usage_as_overage_first():
    who = new_attribution_id()
    busy_ledger(who)
    balance_snapshot_save(ledger_id=Ledger.objects.get(attribution_id=who).id, at=T0 + 2 * DAY)
    feature_create(key="compute", meter_slug="credits")

    late = grant_create(
        attribution_id=who, feature_key="compute", amount="1000", effective_at=T0 + 2 * DAY + HOUR
    )

    balance = ledger_balance(attribution_id=who, at=T0 + 3 * DAY)
    assert balance.features["compute"].usage == Decimal(7) * 24  # since the start of the period
    assert {gb.grant.id: gb.balance for gb in balance.grants}[late.id] == Decimal(1000) - Decimal(7) * 24
    assert as_compared(balance) == from_scratch(who, T0 + 3 * DAY)


def test_old_periodic_snapshots_are_thinned_to_one_a_day(settings):
    settings.TALLY_SNAPSHOT_KEEP_DAYS = 1
    who = new_attribution_id()
    grant_create(attribution_id=who, amount="5", effective_at=T0)
    ledger = Ledger.objects.get(attribution_id=who)
    for hours in range(0, 96, 6):
        balance_snapshot_save(ledger_id=ledger.id, at=T0 + hours * HOUR, now=T0 + hours * HOUR)

    kept = list(BalanceSnapshot.objects.order_by("at").values_list("at", flat=True))

    # The last run (at 90 h) keeps everything from 66 h on, and before that the last of each day.
    assert kept == [T0 + hours * HOUR for hours in (18, 42, 60, 66, 72, 78, 84, 90)]


def test_grant_usage_rows_cover_history_once():
    who = new_attribution_id()
    busy_ledger(who)
    ledger = Ledger.objects.get(attribution_id=who)
    for hours in (10, 30, 71):
        balance_snapshot_save(ledger_id=ledger.id, at=T0 + hours * HOUR)

    paid = sum(GrantUsage.objects.values_list("amount", flat=True), Decimal(0))
    through_snapshot = ledger_balance(attribution_id=who, at=T0 + 71 * HOUR)

    assert paid == through_snapshot.usage - through_snapshot.overage


def test_a_spent_grant_stays_spent_through_a_chain_of_snapshots():
    who = new_attribution_id()
    ten = grant_create(attribution_id=who, amount="10", priority=1, effective_at=T0)
    hundred = grant_create(attribution_id=who, amount="100", priority=2, effective_at=T0)
    rated_usage(who, 15, T0 + HOUR)
    ledger = Ledger.objects.get(attribution_id=who)
    first = balance_snapshot_save(ledger_id=ledger.id, at=T0 + 2 * HOUR)
    second = balance_snapshot_save(ledger_id=ledger.id, at=T0 + 3 * HOUR)  # the engine skips the spent ten

    assert first.balances == second.balances == {str(ten.id): "0.000000", str(hundred.id): "95.000000"}
    balance = ledger_balance(attribution_id=who, at=T0 + DAY)
    assert {gb.grant.id: gb.balance for gb in balance.grants} == {ten.id: Decimal(0), hundred.id: Decimal(95)}
