"""The burn-down worked examples through the services and the balance selector.

Every example books rated usage credits (`usage.UsageEntry`) against grants without a feature,
which pay for exactly that; T0 is a Monday in the past.
"""

from datetime import timedelta
from decimal import Decimal

import pytest

from core.errors import Conflict, NotFound, ValidationFailed
from credits.models import Grant, Ledger
from credits.selectors import ledger_balance, ledger_history
from credits.services import grant_create, grant_void, ledger_reset
from credits.tests.factories import T0, FeatureFactory, rated_usage
from usage.tests.factories import new_attribution_id

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def balances(balance) -> dict:
    return {gb.grant.id: gb.balance for gb in balance.grants}


def paid_by_grant(attribution_id, *, end) -> dict:
    entries, _ = ledger_history(attribution_id=attribution_id, start=None, end=end, now=end).page(
        offset=0, limit=1000
    )
    paid: dict = {}
    for entry in entries:
        if entry.type == "GRANT_USAGE":
            paid[entry.grant_id] = paid.get(entry.grant_id, Decimal(0)) + entry.amount
    return paid


def test_lower_priority_number_burns_first():
    who = new_attribution_id()
    first = grant_create(attribution_id=who, amount="100", priority=1, effective_at=T0)
    second = grant_create(attribution_id=who, amount="100", priority=2, effective_at=T0)
    rated_usage(who, 120, T0 + HOUR)

    balance = ledger_balance(attribution_id=who, at=T0 + DAY)

    assert balances(balance) == {first.id: Decimal(0), second.id: Decimal(80)}
    assert (balance.balance, balance.usage, balance.overage) == (Decimal(80), Decimal(120), Decimal(0))


def test_at_equal_priority_the_sooner_expiring_grant_burns_first():
    who = new_attribution_id()
    in_100_years = grant_create(
        attribution_id=who, amount="100", effective_at=T0, expiration_count=100, expiration_unit="YEAR"
    )
    in_30_days = grant_create(
        attribution_id=who, amount="100", effective_at=T0, expiration_count=30, expiration_unit="DAY"
    )
    rated_usage(who, 120, T0 + HOUR)

    balance = ledger_balance(attribution_id=who, at=T0 + DAY)

    assert balances(balance) == {in_30_days.id: Decimal(0), in_100_years.id: Decimal(80)}


def test_without_grants_all_usage_is_overage():
    who = new_attribution_id()
    rated_usage(who, 50, T0 + HOUR)

    balance = ledger_balance(attribution_id=who, at=T0 + DAY)

    assert balance.grants == []
    assert (balance.balance, balance.usage, balance.overage) == (Decimal(0), Decimal(50), Decimal(50))
    assert not Ledger.objects.filter(attribution_id=who).exists()  # a read creates nothing


def test_a_grant_starting_later_pays_down_the_earlier_overage():
    who = new_attribution_id()
    starts_at = T0 + 2 * HOUR
    hundred = grant_create(attribution_id=who, amount="100", effective_at=starts_at)
    rated_usage(who, 25, starts_at - HOUR)
    rated_usage(who, 25, starts_at + HOUR)

    balance = ledger_balance(attribution_id=who, at=T0 + DAY)

    assert balances(balance) == {hundred.id: Decimal(50)}
    assert balance.overage == 0
    assert ledger_balance(attribution_id=who, at=starts_at).overage == Decimal(25)


def test_a_voided_grant_stops_paying_at_the_void():
    who = new_attribution_id()
    hundred = grant_create(attribution_id=who, amount="100", effective_at=T0)
    rated_usage(who, 50, T0 + 30 * timedelta(minutes=1))
    rated_usage(who, 50, T0 + 2 * HOUR)

    grant_void(attribution_id=who, grant_id=hundred.id, voided_at=T0 + HOUR)
    balance = ledger_balance(attribution_id=who, at=T0 + DAY)

    assert balances(balance) == {hundred.id: Decimal(0)}
    assert balance.overage == Decimal(50)
    assert paid_by_grant(who, end=T0 + DAY) == {hundred.id: Decimal(50)}


def test_an_expired_grant_pays_nothing_after_its_expiry():
    who = new_attribution_id()
    hundred = grant_create(
        attribution_id=who, amount="100", effective_at=T0, expiration_count=2, expiration_unit="HOUR"
    )
    rated_usage(who, 10, T0 + HOUR)
    rated_usage(who, 10, T0 + 3 * HOUR)

    balance = ledger_balance(attribution_id=who, at=T0 + DAY)

    assert paid_by_grant(who, end=T0 + DAY) == {hundred.id: Decimal(10)}
    assert balances(balance) == {hundred.id: Decimal(0)}
    assert balance.overage == Decimal(10)
    assert hundred.expires_at == T0 + 2 * HOUR


def test_a_small_first_grant_is_emptied_before_the_next_is_touched():
    who = new_attribution_id()
    ten = grant_create(attribution_id=who, amount="10", priority=1, effective_at=T0)
    hundred = grant_create(attribution_id=who, amount="100", priority=2, effective_at=T0)
    rated_usage(who, 20, T0 + HOUR)

    balance = ledger_balance(attribution_id=who, at=T0 + DAY)

    assert balances(balance) == {ten.id: Decimal(0), hundred.id: Decimal(90)}


def test_a_feature_grant_pays_only_its_own_feature():
    who = new_attribution_id()
    FeatureFactory(key="seats", meter_slug="credits")
    seats = grant_create(attribution_id=who, feature_key="seats", amount="30", effective_at=T0)
    credits = grant_create(attribution_id=who, amount="100", effective_at=T0)
    rated_usage(who, 40, T0 + HOUR)  # the seats feature reads rated credits too, on its own

    balance = ledger_balance(attribution_id=who, at=T0 + DAY)

    assert balances(balance) == {seats.id: Decimal(0), credits.id: Decimal(60)}
    assert balance.features["seats"].overage == Decimal(10)
    assert balance.features["credits"].overage == Decimal(0)


def test_times_are_stored_truncated_to_the_minute():
    who = new_attribution_id()
    grant = grant_create(
        attribution_id=who, amount="1", effective_at=T0 + timedelta(seconds=59, microseconds=7)
    )
    assert Grant.objects.get(pk=grant.pk).effective_at == T0


def test_the_balance_cutline_is_rounded_up_so_this_minute_counts():
    who = new_attribution_id()
    grant_create(attribution_id=who, amount="100", effective_at=T0)
    rated_usage(who, 5, T0 + HOUR + timedelta(seconds=20))

    assert ledger_balance(attribution_id=who, at=T0 + HOUR + timedelta(seconds=40)).balance == Decimal(95)
    assert ledger_balance(attribution_id=who, at=T0 + HOUR).balance == Decimal(100)


def test_the_first_grant_creates_the_ledger():
    who = new_attribution_id()
    grant = grant_create(attribution_id=who, amount="1", effective_at=T0)
    assert grant.ledger.attribution_id == who


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"amount": "0"}, "invalid_amount"),
        ({"amount": "-5"}, "invalid_amount"),
        ({"amount": "1.0000001"}, "invalid_credits"),
        ({"amount": 1.5}, "invalid_credits"),
        ({"amount": "10", "priority": 256}, "invalid_priority"),
        ({"amount": "10", "priority": -1}, "invalid_priority"),
        ({"amount": "10", "expiration_count": 0, "expiration_unit": "DAY"}, "invalid_expiration"),
        ({"amount": "10", "expiration_count": 3, "expiration_unit": "FORTNIGHT"}, "invalid_expiration"),
        ({"amount": "10", "expiration_count": 3}, "invalid_expiration"),
        ({"amount": "10", "rollover_type": "SOME"}, "invalid_rollover"),
        ({"amount": "10", "rollover_max_amount": "5"}, "invalid_rollover"),
        (
            {
                "amount": "10",
                "rollover_type": "REMAINING_AMOUNT",
                "rollover_max_amount": "5",
                "rollover_min_amount": "6",
            },
            "invalid_rollover",
        ),
        ({"amount": "10", "feature_key": "nope"}, "unknown_feature"),
        ({"amount": "10", "metadata": ["a"]}, "invalid_metadata"),
        ({"amount": "10", "attribution_id": "org:1"}, "invalid_attribution_id"),
    ],
)
def test_bad_grants_are_refused_and_store_nothing(kwargs, code):
    kwargs = {"attribution_id": new_attribution_id(), "effective_at": T0, **kwargs}
    with pytest.raises(ValidationFailed) as refused:
        grant_create(**kwargs)
    assert refused.value.code == code
    assert not Grant.objects.exists()
    assert not Ledger.objects.exists()


def test_an_archived_feature_takes_no_new_grants():
    FeatureFactory(key="old", archived_at=T0)
    with pytest.raises(ValidationFailed) as refused:
        grant_create(attribution_id=new_attribution_id(), feature_key="old", amount="1", effective_at=T0)
    assert refused.value.code == "feature_archived"


def test_a_grant_before_the_last_reset_is_a_400():
    who = new_attribution_id()
    ledger_reset(attribution_id=who, effective_at=T0 + DAY)

    with pytest.raises(ValidationFailed) as refused:
        grant_create(attribution_id=who, amount="10", effective_at=T0 + DAY - timedelta(minutes=1))

    assert refused.value.code == "before_last_reset"
    assert grant_create(attribution_id=who, amount="10", effective_at=T0 + DAY).effective_at == T0 + DAY


def test_voiding_twice_is_a_409_and_the_first_void_stays():
    who = new_attribution_id()
    grant = grant_create(attribution_id=who, amount="10", effective_at=T0)
    grant_void(attribution_id=who, grant_id=grant.id, voided_at=T0 + HOUR)

    with pytest.raises(Conflict) as refused:
        grant_void(attribution_id=who, grant_id=grant.id)

    assert refused.value.code == "grant_already_voided"
    assert Grant.objects.get(pk=grant.pk).voided_at == T0 + HOUR


def test_void_rules():
    who = new_attribution_id()
    grant = grant_create(attribution_id=who, amount="10", effective_at=T0)
    with pytest.raises(ValidationFailed, match="future"):
        grant_void(attribution_id=who, grant_id=grant.id, voided_at=T0 + DAY, now=T0 + HOUR)
    with pytest.raises(NotFound):
        grant_void(attribution_id=who, grant_id=grant.id + 1000)
    with pytest.raises(NotFound):
        grant_void(attribution_id=new_attribution_id(), grant_id=grant.id)
    with pytest.raises(NotFound):
        grant_void(attribution_id=who, grant_id="abc")
    ledger_reset(attribution_id=who, effective_at=T0 + DAY)
    with pytest.raises(ValidationFailed) as refused:
        grant_void(attribution_id=who, grant_id=grant.id, voided_at=T0 + HOUR)
    assert refused.value.code == "before_last_reset"
