"""Cost centers: lazy creation, limits, strategy switches and the cycle reset."""

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from core.errors import ValidationFailed
from usage.models import CostCenter, CostCenterVersion, UsageEntry
from usage.selectors import usage_balance
from usage.services import (
    cost_center_close_cycle,
    cost_center_get_or_create,
    cost_center_set,
)
from usage.tests.factories import UsageEntryFactory, new_attribution_id

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_a_cost_center_is_created_lazily_with_the_defaults(settings):
    settings.TALLY_DEFAULT_SPENDING_LIMIT = "500"
    who = new_attribution_id()
    cost_center = cost_center_get_or_create(attribution_id=who, now=NOW)
    assert cost_center.billing_strategy == "other"
    assert cost_center.spending_limit == Decimal("500")
    assert cost_center.billing_cycle_start == NOW
    assert cost_center.next_billing_time == datetime(2026, 12, 23, 12, 0, tzinfo=UTC)
    assert cost_center_get_or_create(attribution_id=who).pk == cost_center.pk
    assert list(cost_center.versions.values_list("reason", flat=True)) == ["created"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_creation_makes_one_cost_center():
    who = new_attribution_id()
    barrier = threading.Barrier(6)
    ids = []

    def create():
        barrier.wait()
        ids.append(cost_center_get_or_create(attribution_id=who).pk)
        connection.close()

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 1
    assert CostCenter.objects.filter(attribution_id=who).count() == 1
    assert CostCenterVersion.objects.filter(cost_center__attribution_id=who).count() == 1


@pytest.mark.django_db
def test_setting_the_limit_keeps_history():
    who = new_attribution_id()
    cost_center_set(attribution_id=who, spending_limit="10", now=NOW)
    cost_center = cost_center_set(attribution_id=who, spending_limit=Decimal("25.5"), now=NOW)
    assert cost_center.spending_limit == Decimal("25.5")
    reasons = list(cost_center.versions.order_by("created_at", "id").values_list("reason", flat=True))
    assert reasons == ["created", "spending limit set to 10.000000", "spending limit set to 25.500000"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"spending_limit": "-1"}, "negative_spending_limit"),
        ({"billing_strategy": "paypal"}, "invalid_billing_strategy"),
        ({"spending_limit": "abc"}, "invalid_credits"),
    ],
)
def test_bad_cost_center_input_is_refused_and_stores_nothing(kwargs, code):
    who = new_attribution_id()
    with pytest.raises(ValidationFailed) as info:
        cost_center_set(attribution_id=who, **kwargs)
    assert info.value.code == code
    assert not CostCenter.objects.filter(attribution_id=who).exists()


@pytest.mark.django_db
def test_the_database_refuses_a_negative_limit():
    from django.db import IntegrityError, transaction

    cost_center = cost_center_get_or_create(attribution_id=new_attribution_id())
    with pytest.raises(IntegrityError), transaction.atomic():
        CostCenter.objects.filter(pk=cost_center.pk).update(spending_limit=Decimal("-1"))


@pytest.mark.django_db
def test_switching_to_stripe_balances_out_usage_and_starts_a_cycle():
    who = new_attribution_id()
    cost_center_set(attribution_id=who, spending_limit="10", now=NOW)
    UsageEntryFactory(attribution_id=who, credits=Decimal("7.25"))
    later = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)

    cost_center = cost_center_set(
        attribution_id=who, billing_strategy="stripe", spending_limit="1000", now=later
    )

    assert cost_center.billing_strategy == "stripe"
    assert cost_center.spending_limit == Decimal("1000")
    assert cost_center.billing_cycle_start == later
    assert cost_center.next_billing_time == datetime(2026, 12, 30, 9, 30, tzinfo=UTC)
    invoice = UsageEntry.objects.get(attribution_id=who, kind="invoice")
    assert invoice.credits == Decimal("-7.25")
    assert usage_balance(attribution_id=who) == Decimal("0")


@pytest.mark.django_db
def test_switching_back_to_other_restores_the_last_other_limit():
    who = new_attribution_id()
    cost_center_set(attribution_id=who, spending_limit="10", now=NOW)
    cost_center_set(attribution_id=who, billing_strategy="stripe", spending_limit="1000", now=NOW)
    later = datetime(2027, 1, 31, 8, 0, tzinfo=UTC)

    cost_center = cost_center_set(attribution_id=who, billing_strategy="other", now=later)

    assert cost_center.spending_limit == Decimal("10")
    assert cost_center.billing_cycle_start == later
    assert cost_center.next_billing_time == datetime(2027, 2, 28, 8, 0, tzinfo=UTC)  # clamped


@pytest.mark.django_db
def test_switching_to_other_without_history_uses_the_default(settings):
    settings.TALLY_DEFAULT_SPENDING_LIMIT = "500"
    who = new_attribution_id()
    cost_center = cost_center_get_or_create(attribution_id=who, now=NOW)
    CostCenterVersion.objects.filter(cost_center=cost_center).delete()
    CostCenter.objects.filter(pk=cost_center.pk).update(
        billing_strategy="stripe", spending_limit=Decimal("9")
    )
    cost_center = cost_center_set(attribution_id=who, billing_strategy="other", now=NOW)
    assert cost_center.spending_limit == Decimal("500")


@pytest.mark.django_db
def test_reset_two_months_overdue_with_limit_10_and_balance_25():
    who = new_attribution_id()
    cycle_start = datetime(2026, 8, 23, 12, 0, tzinfo=UTC)
    cost_center_get_or_create(attribution_id=who, now=cycle_start)
    cost_center_set(attribution_id=who, spending_limit="10", now=cycle_start)
    old = CostCenter.objects.get(attribution_id=who)
    assert old.next_billing_time == datetime(2026, 9, 23, 12, 0, tzinfo=UTC)  # two months before NOW
    UsageEntryFactory(attribution_id=who, credits=Decimal("25"))

    outcome = cost_center_close_cycle(attribution_id=who, now=NOW)

    cost_center = CostCenter.objects.get(attribution_id=who)
    assert cost_center.next_billing_time > NOW
    assert cost_center.billing_cycle_start == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # 3 whole months on
    assert outcome.months_advanced == 3
    assert cost_center.spending_limit == Decimal("10")
    invoice = UsageEntry.objects.get(attribution_id=who, kind="invoice")
    assert invoice.credits == Decimal("-10")
    assert usage_balance(attribution_id=who) == Decimal("15")


@pytest.mark.django_db
def test_reset_is_idempotent():
    who = new_attribution_id()
    cost_center_get_or_create(attribution_id=who, now=datetime(2026, 10, 1, tzinfo=UTC))
    UsageEntryFactory(attribution_id=who, credits=Decimal("3"))
    assert cost_center_close_cycle(attribution_id=who, now=NOW) is not None
    assert cost_center_close_cycle(attribution_id=who, now=NOW) is None
    assert UsageEntry.objects.filter(attribution_id=who, kind="invoice").count() == 1


@pytest.mark.django_db
def test_a_limit_of_zero_caps_nothing():
    who = new_attribution_id()
    cost_center_get_or_create(attribution_id=who, now=datetime(2026, 10, 1, tzinfo=UTC))
    cost_center_set(attribution_id=who, spending_limit="0", now=datetime(2026, 10, 1, tzinfo=UTC))
    UsageEntryFactory(attribution_id=who, credits=Decimal("42.5"))
    outcome = cost_center_close_cycle(attribution_id=who, now=NOW)
    assert outcome.invoiced == Decimal("42.5")
    assert usage_balance(attribution_id=who) == Decimal("0")


@pytest.mark.django_db
def test_a_negative_or_zero_balance_gets_no_invoice():
    who = new_attribution_id()
    cost_center_get_or_create(attribution_id=who, now=datetime(2026, 10, 1, tzinfo=UTC))
    UsageEntryFactory(attribution_id=who, credits=Decimal("-2"), kind="creditnote")
    outcome = cost_center_close_cycle(attribution_id=who, now=NOW)
    assert outcome.invoiced == Decimal("0")
    assert not UsageEntry.objects.filter(attribution_id=who, kind="invoice").exists()


@pytest.mark.django_db
def test_stripe_cost_centers_are_not_reset_here():
    who = new_attribution_id()
    cost_center_set(attribution_id=who, billing_strategy="stripe", now=datetime(2026, 9, 1, tzinfo=UTC))
    assert cost_center_close_cycle(attribution_id=who, now=NOW) is None
