from decimal import Decimal

import pytest
from django.db import connection, models, transaction
from hypothesis import given
from hypothesis import strategies as st

from core.fields import CreditsField
from core.money import format_credits, format_credits_for_people, quantize_credits, to_credits


class CreditsProbe(models.Model):
    """A throwaway table, created inside the test transaction, to round-trip CreditsField."""

    amount = CreditsField()

    class Meta:
        app_label = "core"
        managed = False

    def __str__(self) -> str:
        return str(self.amount)


@pytest.fixture
def probe_table(db):
    with connection.schema_editor() as editor:
        editor.create_model(CreditsProbe)
    yield CreditsProbe
    with connection.schema_editor() as editor:
        editor.delete_model(CreditsProbe)


def test_credits_field_is_24_digits_6_places():
    field = CreditsField()
    assert (field.max_digits, field.decimal_places) == (24, 6)


@pytest.mark.parametrize(
    "value",
    ["0.000001", "12.500000", "-5.000000", "999999999999999999.999999", "0.166667"],
)
def test_exact_values_round_trip_through_postgresql(probe_table, value):
    row = probe_table.objects.create(amount=Decimal(value))
    stored = probe_table.objects.get(pk=row.pk).amount
    assert stored == Decimal(value)
    assert str(stored) == value


def test_sum_in_postgresql_is_exact(probe_table):
    # 0.1 + 0.2 is the classic float failure; ten thousand of them add up exactly here.
    probe_table.objects.bulk_create(
        [probe_table(amount=Decimal("0.100000")), probe_table(amount=Decimal("0.200000"))] * 5000
    )
    total = probe_table.objects.aggregate(total=models.Sum("amount"))["total"]
    assert total == Decimal("1500.000000")


def test_a_float_is_refused_when_saving(probe_table):
    with pytest.raises(TypeError, match="never float"), transaction.atomic():
        probe_table.objects.create(amount=0.1)
    assert probe_table.objects.count() == 0


def test_a_float_is_refused_by_to_python():
    with pytest.raises(TypeError):
        CreditsField().to_python(1.5)


@pytest.mark.parametrize("value", [0.5, float("nan")])
def test_money_helpers_refuse_floats(value):
    with pytest.raises(TypeError):
        to_credits(value)
    with pytest.raises(TypeError):
        quantize_credits(value)


def test_quantize_is_half_even_once():
    assert quantize_credits(Decimal("0.0000025")) == Decimal("0.000002")
    assert quantize_credits(Decimal("0.0000035")) == Decimal("0.000004")
    # 1 second at 1/6 credit per minute
    assert quantize_credits(Decimal(1) / Decimal(6) / Decimal(60)) == Decimal("0.002778")


def test_to_credits_refuses_precision_loss():
    assert to_credits("12.5") == Decimal("12.500000")
    with pytest.raises(ValueError, match="more than 6 decimal places"):
        to_credits("0.0000001")
    with pytest.raises(ValueError):
        to_credits("NaN")
    with pytest.raises(ValueError):
        to_credits("twelve")


def test_format_credits_has_six_places():
    assert format_credits(Decimal("12.5")) == "12.500000"
    assert format_credits(0) == "0.000000"


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**17), max_value=10**17))
def test_quantize_is_idempotent_and_close(value):
    once = quantize_credits(value)
    assert quantize_credits(once) == once
    assert abs(once - value) <= Decimal("0.0000005")


@pytest.mark.parametrize(
    ("exact", "for_people"),
    [("1234.5678", "1,234.57"), ("0.125", "0.13"), ("-0.125", "-0.13"), ("1000000", "1,000,000.00")],
)
def test_pages_and_the_admin_show_two_places_rounded_half_up_with_separators(exact, for_people):
    assert format_credits_for_people(exact) == for_people
