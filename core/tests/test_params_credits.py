"""core.params.parse_credits: the one parser of credit amounts for input outside serializers."""

from decimal import Decimal

import pytest

from core.errors import ValidationFailed
from core.params import parse_credits


@pytest.mark.parametrize(
    ("given", "credits"),
    [
        ("12.5", Decimal("12.500000")),
        ("0.000001", Decimal("0.000001")),
        (7, Decimal("7.000000")),
        (Decimal("-3.25"), Decimal("-3.250000")),
        ("123456789012345678", Decimal("123456789012345678.000000")),
    ],
)
def test_a_decimal_string_an_int_or_a_decimal_reads_as_credits(given, credits):
    assert parse_credits(given) == credits


@pytest.mark.parametrize("given", [1.5, "1.0000001", "abc", "", None, [], "1e3x"])
def test_anything_else_is_one_400_that_names_the_field(given):
    with pytest.raises(ValidationFailed) as refused:
        parse_credits(given, field="spending_limit")
    assert refused.value.code == "invalid_credits"
    assert refused.value.message.startswith("spending_limit: ")
