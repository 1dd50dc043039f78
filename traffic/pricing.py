"""Rating a minute of traffic (billing-service rules), Decimal only. Pure: no ORM.

The account's remaining included quota pays first; the rest is chargeable:

    credits = chargeable bytes * price per byte * region multiplier * line multiplier

with a multiplier ≤ 0 counting as 1, computed exactly and quantized once per minute entry
(6 places, half to even). Worked example: 150 bytes, 100 included left, price 0.5, region
multiplier 2.4 → 50 chargeable * 0.5 * 2.4 = 60.000000 credits, 0 included left.
"""

from dataclasses import dataclass
from decimal import Context, Decimal

from core.money import quantize_credits, to_decimal

ONE = Decimal(1)
# bytes * a 15-place price * multipliers, exact before the one rounding (28 digits would not be).
_EXACT = Context(prec=80)


def effective_multiplier(value: Decimal | int | str | None) -> Decimal:
    """A multiplier as used in rating: missing, zero or negative counts as 1."""
    if value is None:
        return ONE
    value = to_decimal(value)
    return value if value > 0 else ONE


@dataclass(frozen=True, slots=True)
class Pricing:
    """An account's billing profile with the defaults already filled in."""

    included_quota_bytes: int
    price_per_byte: Decimal
    region_multiplier: Decimal = ONE
    line_multiplier: Decimal = ONE
    rule_version: str = ""

    @property
    def multiplier(self) -> Decimal:
        return effective_multiplier(self.region_multiplier) * effective_multiplier(self.line_multiplier)


@dataclass(frozen=True, slots=True)
class RatedMinute:
    total_bytes: int
    included_bytes: int
    chargeable_bytes: int
    credits: Decimal
    remaining_quota_after: int


def rate_minute(*, total_bytes: int, remaining_quota: int, pricing: Pricing) -> RatedMinute:
    if type(total_bytes) is not int or type(remaining_quota) is not int:
        raise TypeError("Bytes are whole numbers (int), never float or Decimal.")
    if total_bytes < 0:
        raise ValueError("A minute never has negative traffic.")
    remaining = max(remaining_quota, 0)
    included = min(remaining, total_bytes)
    chargeable = total_bytes - included
    if chargeable == 0:
        exact = Decimal(0)
    else:
        exact = _EXACT.multiply(
            _EXACT.multiply(Decimal(chargeable), to_decimal(pricing.price_per_byte)), pricing.multiplier
        )
    return RatedMinute(
        total_bytes=total_bytes,
        included_bytes=included,
        chargeable_bytes=chargeable,
        credits=quantize_credits(exact),
        remaining_quota_after=remaining - included,
    )
