"""Model fields for money: every credit amount is a CreditsField, every rate a RateField.

Both refuse a float at assignment-time conversion (`to_python`) and at query time
(`get_prep_value`); the pure helpers they build on are in core.money.
"""

from django.core import checks
from django.db import models

from core.money import CREDITS_MAX_DIGITS, CREDITS_PLACES, RATE_MAX_DIGITS, RATE_PLACES, refuse_float


class _ExactDecimalField(models.DecimalField):
    """A DecimalField of a fixed size that never takes a float (the size is the class's)."""

    max_digits_fixed: int
    places_fixed: int

    def __init__(self, *args, **kwargs):
        kwargs["max_digits"] = self.max_digits_fixed
        kwargs["decimal_places"] = self.places_fixed
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_digits", None)
        kwargs.pop("decimal_places", None)
        return name, path, args, kwargs

    def to_python(self, value):
        refuse_float(value)
        return super().to_python(value)

    def get_prep_value(self, value):
        refuse_float(value)
        return super().get_prep_value(value)


class CreditsField(_ExactDecimalField):
    """Every credit amount in Tally: DecimalField(max_digits=24, decimal_places=6), no floats."""

    max_digits_fixed = CREDITS_MAX_DIGITS
    places_fixed = CREDITS_PLACES

    def check(self, **kwargs):
        return [*super().check(**kwargs), *self._check_default()]

    def _check_default(self):
        if isinstance(self.default, float):
            return [checks.Error("CreditsField default must not be a float.", obj=self)]
        return []


class RateField(_ExactDecimalField):
    """Rates may be finer than credits: DecimalField(max_digits=30, decimal_places=15)."""

    max_digits_fixed = RATE_MAX_DIGITS
    places_fixed = RATE_PLACES
