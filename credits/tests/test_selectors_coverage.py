"""Grant coverage: what grants paid for rated credits in a range (billing subtracts it)."""

from datetime import timedelta
from decimal import Decimal

import pytest

from credits.models import Ledger
from credits.selectors.coverage import credits_covered
from credits.services import balance_snapshot_save, feature_create, grant_create, ledger_reset
from credits.tests.factories import T0, rated_usage
from usage.tests.factories import new_attribution_id

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def covered(who, start, end):
    return credits_covered(attribution_id=who, start=start, end=end)


def test_coverage_is_what_grants_paid_in_the_range():
    who = new_attribution_id()
    grant_create(attribution_id=who, amount="100", effective_at=T0)
    rated_usage(who, 30, T0 + HOUR)
    rated_usage(who, 50, T0 + 3 * HOUR)
    rated_usage(who, 40, T0 + 5 * HOUR)  # only 20 of it is paid: the grant is spent

    assert covered(who, T0, T0 + DAY) == Decimal(100)
    assert covered(who, T0 + 2 * HOUR, T0 + 4 * HOUR) == Decimal(50)
    assert covered(who, T0 + 4 * HOUR, T0 + DAY) == Decimal(20)
    assert covered(who, T0 + DAY, T0 + 2 * DAY) == Decimal(0)


def test_coverage_across_resets_counts_each_closed_period():
    who = new_attribution_id()
    grant_create(attribution_id=who, amount="100", effective_at=T0, rollover_type="ORIGINAL_AMOUNT")
    rated_usage(who, 130, T0 + HOUR)  # pays 100, 30 written off at the reset
    ledger_reset(attribution_id=who, effective_at=T0 + DAY)
    rated_usage(who, 10, T0 + DAY + HOUR)
    ledger_reset(attribution_id=who, effective_at=T0 + 2 * DAY)
    rated_usage(who, 1, T0 + 2 * DAY + HOUR)

    assert covered(who, T0, T0 + 3 * DAY) == Decimal(111)
    assert covered(who, T0 + HOUR + timedelta(minutes=1), T0 + 3 * DAY) == Decimal(11)
    assert covered(who, T0 + DAY, T0 + 2 * DAY) == Decimal(10)


def test_coverage_is_the_same_from_snapshots():
    who = new_attribution_id()
    grant_create(attribution_id=who, amount="100", effective_at=T0)
    for hour in range(10):
        rated_usage(who, 3, T0 + hour * HOUR)
    before = covered(who, T0 + 2 * HOUR, T0 + 8 * HOUR)
    ledger = Ledger.objects.get(attribution_id=who)
    for hour in (1, 4, 9):
        balance_snapshot_save(ledger_id=ledger.id, at=T0 + hour * HOUR)

    assert covered(who, T0 + 2 * HOUR, T0 + 8 * HOUR) == before == Decimal(18)


def test_only_grants_of_rated_credits_cover_credits():
    who = new_attribution_id()
    feature_create(key="seats", meter_slug="credits")
    grant_create(attribution_id=who, feature_key="seats", amount="100", effective_at=T0)
    rated_usage(who, 30, T0 + HOUR)

    assert covered(who, T0, T0 + DAY) == Decimal(0)
    assert covered(new_attribution_id(), T0, T0 + DAY) == Decimal(0)
