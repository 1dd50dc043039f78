"""Credits: exact decimals with 6 places. A float anywhere in a money path is a bug.

`to_credits` accepts Decimal, int and decimal strings; a float raises TypeError. A computed
charge is quantized once, from the whole quantity, with ROUND_HALF_EVEN (`quantize_credits`).
"""

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from django.core import checks
from django.db import models

CREDITS_PLACES = 6
CREDITS_MAX_DIGITS = 24
CREDITS_QUANTUM = Decimal(1).scaleb(-CREDITS_PLACES)  # Decimal("0.000001")
RATE_PLACES = 15
RATE_MAX_DIGITS = 30
ZERO = Decimal("0.000000")


def _refuse_float(value: object) -> None:
    if isinstance(value, float):
        raise TypeError(f"Credits must be Decimal, int or a decimal string, never float (got {value!r}).")


def to_decimal(value: Decimal | int | str) -> Decimal:
    """Any exact number as a Decimal; floats and non-finite values refused."""
    _refuse_float(value)
    if isinstance(value, bool):
        raise TypeError("A boolean is not an amount.")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation as exc:
            raise ValueError(f"{value!r} is not a decimal number.") from exc
    else:
        raise TypeError(f"Cannot use {type(value).__name__} as an amount.")
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number.")
    return result


def quantize_credits(value: Decimal | int | str) -> Decimal:
    """Round once to 6 places, half to even (the only rounding a charge gets)."""
    return to_decimal(value).quantize(CREDITS_QUANTUM, rounding=ROUND_HALF_EVEN)


def to_credits(value: Decimal | int | str) -> Decimal:
    """An amount of credits, exact: refuses values that would lose precision at 6 places."""
    decimal = to_decimal(value)
    quantized = decimal.quantize(CREDITS_QUANTUM, rounding=ROUND_HALF_EVEN)
    if quantized != decimal:
        raise ValueError(f"{value!r} has more than {CREDITS_PLACES} decimal places.")
    return quantized


def format_credits(value: Decimal | int | str) -> str:
    """The JSON form of credits: a string with exactly 6 places, e.g. "12.500000"."""
    return f"{quantize_credits(value):.{CREDITS_PLACES}f}"


class CreditsField(models.DecimalField):
    """Every credit amount in Tally: DecimalField(max_digits=24, decimal_places=6), no floats."""

    def __init__(self, *args, **kwargs):
        kwargs["max_digits"] = CREDITS_MAX_DIGITS
        kwargs["decimal_places"] = CREDITS_PLACES
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_digits", None)
        kwargs.pop("decimal_places", None)
        return name, path, args, kwargs

    def to_python(self, value):
        _refuse_float(value)
        return super().to_python(value)

    def get_prep_value(self, value):
        _refuse_float(value)
        return super().get_prep_value(value)

    def check(self, **kwargs):
        return [*super().check(**kwargs), *self._check_default()]

    def _check_default(self):
        if isinstance(self.default, float):
            return [checks.Error("CreditsField default must not be a float.", obj=self)]
        return []


class RateField(models.DecimalField):
    """Rates may be finer than credits: DecimalField(max_digits=30, decimal_places=15)."""

    def __init__(self, *args, **kwargs):
        kwargs["max_digits"] = RATE_MAX_DIGITS
        kwargs["decimal_places"] = RATE_PLACES
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_digits", None)
        kwargs.pop("decimal_places", None)
        return name, path, args, kwargs

    def to_python(self, value):
        _refuse_float(value)
        return super().to_python(value)

    def get_prep_value(self, value):
        _refuse_float(value)
        return super().get_prep_value(value)
