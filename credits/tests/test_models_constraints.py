"""What must always hold is refused by the database itself, whatever code writes the row."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from credits.models import BalanceSnapshot, Feature, Grant, GrantUsage, Ledger, Reset
from credits.tests.factories import T0, FeatureFactory, GrantFactory, LedgerFactory

pytestmark = pytest.mark.django_db


def refused(**fields) -> bool:
    try:
        with transaction.atomic():
            GrantFactory(**fields)
    except IntegrityError:
        return True
    return False


@pytest.mark.parametrize(
    "fields",
    [
        {"amount": Decimal(0)},
        {"amount": Decimal("-1")},
        {"priority": 256},
        {"expires_at": T0},
        {"expires_at": T0 - timedelta(minutes=1)},
        {"expiration_count": 2, "expiration_unit": None, "expires_at": T0 + timedelta(hours=2)},
        {"expiration_count": 0, "expiration_unit": "HOUR", "expires_at": T0 + timedelta(hours=2)},
        {"expiration_count": 2, "expiration_unit": "EON", "expires_at": T0 + timedelta(hours=2)},
        {"rollover_type": "HALF"},
        {"rollover_max_amount": Decimal(5)},
        {"rollover_type": "REMAINING_AMOUNT", "rollover_max_amount": Decimal("-1")},
        {
            "rollover_type": "REMAINING_AMOUNT",
            "rollover_max_amount": Decimal(5),
            "rollover_min_amount": Decimal(6),
        },
    ],
)
def test_the_database_refuses_a_bad_grant(fields):
    assert refused(**fields)
    assert not Grant.objects.exists()


def test_a_negative_priority_is_refused():
    # PositiveSmallIntegerField adds its own CHECK (>= 0); ours bounds both ends.
    assert refused(priority=-1)


def test_good_grants_are_accepted():
    assert not refused(priority=0)
    assert not refused(priority=255, expires_at=T0 + timedelta(minutes=1))
    assert not refused(
        rollover_type="ORIGINAL_AMOUNT", rollover_max_amount=Decimal(5), rollover_min_amount=Decimal(5)
    )


def test_one_ledger_per_subject():
    ledger = LedgerFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Ledger.objects.create(attribution_id=ledger.attribution_id)


def test_one_reset_per_ledger_and_time():
    ledger = LedgerFactory()
    Reset.objects.create(ledger=ledger, effective_at=T0)
    with pytest.raises(IntegrityError), transaction.atomic():
        Reset.objects.create(ledger=ledger, effective_at=T0)


def test_feature_keys_are_unique():
    FeatureFactory(key="api")
    with pytest.raises(IntegrityError), transaction.atomic():
        Feature.objects.create(key="api", name="again")


def test_a_voided_grant_stays_voided():
    grant = GrantFactory()
    Grant.objects.filter(pk=grant.pk).update(voided_at=T0 + timedelta(hours=1))

    with pytest.raises(IntegrityError, match="voided"), transaction.atomic():
        Grant.objects.filter(pk=grant.pk).update(voided_at=None)
    with pytest.raises(IntegrityError, match="voided"), transaction.atomic():
        Grant.objects.filter(pk=grant.pk).update(voided_at=T0 + timedelta(hours=2))

    assert Grant.objects.get(pk=grant.pk).voided_at == T0 + timedelta(hours=1)


@pytest.mark.parametrize(
    "change",
    [
        {"amount": Decimal(1000)},
        {"priority": 9},
        {"effective_at": T0 - timedelta(days=1)},
        {"expires_at": T0 + timedelta(days=9)},
        {"feature_id": None},
    ],
)
def test_the_terms_of_a_grant_never_change(change):
    grant = GrantFactory(feature=FeatureFactory(), expires_at=T0 + timedelta(days=1))
    with pytest.raises(IntegrityError, match="cannot be changed"), transaction.atomic():
        Grant.objects.filter(pk=grant.pk).update(**change)


def test_metadata_may_be_annotated_later():
    grant = GrantFactory()
    Grant.objects.filter(pk=grant.pk).update(metadata={"ticket": "FIN-12"})
    assert Grant.objects.get(pk=grant.pk).metadata == {"ticket": "FIN-12"}


def test_grants_are_never_deleted():
    grant = GrantFactory()
    with pytest.raises(IntegrityError, match="cannot be deleted"), transaction.atomic():
        Grant.objects.filter(pk=grant.pk).delete()


def test_a_rollover_child_names_its_reset():
    parent = GrantFactory()
    assert refused(ledger=parent.ledger, parent=parent)


def test_snapshot_and_grant_usage_constraints():
    ledger = LedgerFactory()
    BalanceSnapshot.objects.create(ledger=ledger, at=T0)
    with pytest.raises(IntegrityError), transaction.atomic():
        BalanceSnapshot.objects.create(ledger=ledger, at=T0)
    grant = GrantFactory(ledger=ledger)
    for amount, end in ((Decimal(0), T0 + timedelta(hours=1)), (Decimal(1), T0)):
        with pytest.raises(IntegrityError), transaction.atomic():
            GrantUsage.objects.create(
                ledger=ledger, grant=grant, period_start=T0, period_end=end, amount=amount
            )
