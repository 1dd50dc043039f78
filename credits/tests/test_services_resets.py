"""Resets: rollover children, dropped overage, and the rules on when a reset may happen."""

from datetime import timedelta
from decimal import Decimal

import pytest

from core.errors import Conflict, ValidationFailed
from credits.models import BalanceSnapshot, Grant, Ledger, Reset
from credits.selectors import ledger_balance
from credits.services import balance_snapshot_save, grant_create, ledger_reset
from credits.tests.factories import T0, rated_usage
from usage.tests.factories import new_attribution_id

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def test_remaining_amount_rollover_is_capped_at_its_maximum():
    who = new_attribution_id()
    hundred = grant_create(
        attribution_id=who,
        amount="100",
        effective_at=T0,
        rollover_type="REMAINING_AMOUNT",
        rollover_max_amount="50",
    )
    rated_usage(who, 10, T0 + HOUR)  # 90 remain, more than the 50 that may roll over

    outcome = ledger_reset(attribution_id=who, effective_at=T0 + DAY)

    [child] = outcome.rollover_grants
    assert (child.amount, child.effective_at, child.parent, child.reset) == (
        Decimal(50),
        T0 + DAY,
        hundred,
        outcome.reset,
    )
    assert (child.rollover_type, child.rollover_max_amount) == ("REMAINING_AMOUNT", Decimal(50))
    after = ledger_balance(attribution_id=who, at=T0 + DAY + HOUR)
    assert [(gb.grant.id, gb.balance) for gb in after.grants] == [(child.id, Decimal(50))]
    assert (after.usage, after.overage) == (Decimal(0), Decimal(0))


def test_original_amount_rollover_restores_the_full_grant():
    who = new_attribution_id()
    grant_create(attribution_id=who, amount="100", effective_at=T0, rollover_type="ORIGINAL_AMOUNT")
    rated_usage(who, 70, T0 + HOUR)

    outcome = ledger_reset(attribution_id=who, effective_at=T0 + DAY)

    assert [c.amount for c in outcome.rollover_grants] == [Decimal(100)]
    assert ledger_balance(attribution_id=who, at=T0 + DAY).balance == Decimal(100)


def test_a_reset_ends_other_grants_and_drops_overage():
    who = new_attribution_id()
    grant_create(attribution_id=who, amount="100", effective_at=T0)
    rated_usage(who, 150, T0 + HOUR)
    assert ledger_balance(attribution_id=who, at=T0 + DAY).overage == Decimal(50)

    outcome = ledger_reset(attribution_id=who, effective_at=T0 + DAY)
    rated_usage(who, 7, T0 + DAY + HOUR)

    assert outcome.rollover_grants == []
    after = ledger_balance(attribution_id=who, at=T0 + 2 * DAY)
    assert (after.balance, after.usage, after.overage, after.grants) == (
        Decimal(0),
        Decimal(7),
        Decimal(7),
        [],
    )
    assert after.period_start == T0 + DAY


def test_children_roll_over_again_and_keep_the_parents_expiry():
    who = new_attribution_id()
    grant_create(
        attribution_id=who,
        amount="100",
        effective_at=T0,
        expiration_count=1,
        expiration_unit="YEAR",
        rollover_type="REMAINING_AMOUNT",
    )
    rated_usage(who, 30, T0 + HOUR)
    [first] = ledger_reset(attribution_id=who, effective_at=T0 + DAY).rollover_grants
    rated_usage(who, 20, T0 + DAY + HOUR)
    [second] = ledger_reset(attribution_id=who, effective_at=T0 + 2 * DAY).rollover_grants

    assert (first.amount, second.amount) == (Decimal(70), Decimal(50))
    assert second.parent == first
    assert first.expires_at == second.expires_at == T0.replace(year=T0.year + 1)


def test_a_grant_expired_before_the_reset_does_not_roll_over():
    who = new_attribution_id()
    grant_create(
        attribution_id=who,
        amount="100",
        effective_at=T0,
        expiration_count=2,
        expiration_unit="HOUR",
        rollover_type="ORIGINAL_AMOUNT",
    )
    assert ledger_reset(attribution_id=who, effective_at=T0 + DAY).rollover_grants == []


def test_the_reset_stores_a_snapshot_of_the_new_period():
    who = new_attribution_id()
    grant_create(attribution_id=who, amount="100", effective_at=T0, rollover_type="ORIGINAL_AMOUNT")
    rated_usage(who, 130, T0 + HOUR)

    outcome = ledger_reset(attribution_id=who, effective_at=T0 + DAY)

    snapshot = outcome.snapshot
    [child] = outcome.rollover_grants
    assert (snapshot.at, snapshot.period_start, snapshot.reason) == (T0 + DAY, T0 + DAY, "RESET")
    assert snapshot.balances[str(child.id)] == "100.000000"
    assert snapshot.overage == {"credits": "0.000000"}
    assert snapshot.usage == {"credits": "0.000000"}


def test_a_reset_in_the_future_is_a_400_and_stores_nothing():
    who = new_attribution_id()
    with pytest.raises(ValidationFailed) as refused:
        ledger_reset(attribution_id=who, effective_at=T0 + DAY, now=T0)
    assert refused.value.code == "reset_in_future"
    assert not Reset.objects.exists()
    assert not Ledger.objects.exists()


def test_a_reset_before_the_last_one_is_a_400_and_at_the_same_time_a_409():
    who = new_attribution_id()
    ledger_reset(attribution_id=who, effective_at=T0 + DAY)

    with pytest.raises(ValidationFailed) as before:
        ledger_reset(attribution_id=who, effective_at=T0 + DAY - timedelta(minutes=1))
    with pytest.raises(Conflict) as same:
        ledger_reset(attribution_id=who, effective_at=T0 + DAY + timedelta(seconds=30))

    assert (before.value.code, same.value.code) == ("before_last_reset", "already_reset")
    assert Reset.objects.count() == 1


def test_a_late_reset_replaces_the_snapshots_after_it():
    who = new_attribution_id()
    grant = grant_create(attribution_id=who, amount="100", effective_at=T0, rollover_type="REMAINING_AMOUNT")
    rated_usage(who, 10, T0 + HOUR)
    rated_usage(who, 5, T0 + 5 * HOUR)
    balance_snapshot_save(ledger_id=grant.ledger_id, at=T0 + 6 * HOUR)

    outcome = ledger_reset(attribution_id=who, effective_at=T0 + 3 * HOUR)

    assert list(BalanceSnapshot.objects.values_list("at", flat=True)) == [T0 + 3 * HOUR]
    [child] = outcome.rollover_grants
    assert child.amount == Decimal(90)
    after = ledger_balance(attribution_id=who, at=T0 + 6 * HOUR)
    assert [(gb.grant.id, gb.balance) for gb in after.grants] == [(child.id, Decimal(85))]
    assert after.usage == Decimal(5)


def test_a_reset_without_a_ledger_creates_it():
    who = new_attribution_id()
    outcome = ledger_reset(attribution_id=who, effective_at=T0)
    assert outcome.reset.ledger.attribution_id == who
    assert not Grant.objects.exists()
