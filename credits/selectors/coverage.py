"""What grants paid for rated credits in a time range: a billing cycle's grant coverage.

Within one reset period the engine pays carried overage first, so what grants have paid so far
is exactly the period's usage minus its overage (generic `credits` feature only: a meter feature
pays meter units, not credits). Coverage in [start, end) is therefore "paid so far" at `end`
minus "paid so far" at `start`; each reset inside the range closes a period, whose usage and
written-off overage the reset row keeps (`Reset.closing_usage` / `closing_overage`). Two
snapshot-based balance computations and one small read of resets: the cost does not grow with
history.

A billing cycle's coverage (`cycle_credits_covered`) is read on the hour grid of rated usage:
meter usage is rated into one entry per hour, effective at the start of the hour, so the
credits ledger sees all of an hour's usage at HH:00. A cycle's coverage window is therefore
[start of the hour its cycle starts in, start of the hour the next cycle starts in): the hour a
cycle boundary falls into — the old cycle's last partial hour and the new cycle's first
partial hour, one rated entry — belongs wholly to the new cycle. Consecutive cycles' windows
tile the time line, so every hour of rated usage is covered in exactly one cycle.
"""

from datetime import UTC, datetime
from decimal import Decimal

from core.money import ZERO
from credits.models import GENERIC_FEATURE_KEY, Ledger
from credits.selectors.computation import consistent_read, cutline, ledger_compute, ledger_get
from usage.selectors import cost_center_get, usage_balance


def _paid_in_period(ledger: Ledger, at: datetime) -> Decimal:
    computation = ledger_compute(attribution_id=ledger.attribution_id, ledger=ledger, at=at, features=[None])
    return computation.period_usage[None] - computation.result.overage.get(None, ZERO)


def credits_covered(*, attribution_id: str, start: datetime, end: datetime) -> Decimal:
    """Rated credits that grants paid for in [start, end) (both rounded up to the minute, like a
    balance's cutline). Zero for an attribution without a ledger."""
    start, end = cutline(start), cutline(end)
    with consistent_read():
        ledger = ledger_get(attribution_id=attribution_id)
        if ledger is None or end <= start:
            return ZERO
        closed_periods = ledger.resets.filter(effective_at__gt=start, effective_at__lte=end).values_list(
            "closing_usage", "closing_overage"
        )
        covered = _paid_in_period(ledger, end) - _paid_in_period(ledger, start)
        for usage, overage in closed_periods:
            covered += Decimal(usage.get(GENERIC_FEATURE_KEY, "0")) - Decimal(
                overage.get(GENERIC_FEATURE_KEY, "0")
            )
    return covered


def start_of_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def cycle_credits_covered(
    *,
    attribution_id: str,
    cycle_start: datetime,
    now: datetime | None = None,
    cycle_end: datetime | None = None,
) -> Decimal:
    """What grants paid in a billing cycle: since its start until `now` (the open cycle), or
    the whole closed cycle up to `cycle_end` (what cycle close writes as `grantcoverage`).

    The rule (see the module docstring): the window starts at the start of the hour
    `cycle_start` falls in, so usage rated in the cycle's first, partial hour counts like any
    other; a closed cycle's window ends at the start of the hour `cycle_end` falls in, because
    that hour is the next cycle's first. An open cycle's window ends at `now` (rounded up to
    the minute, as every balance), so this hour's usage counts as soon as it is known. With a
    cycle boundary on the hour both rules are the plain [cycle_start, cycle_end).
    """
    if (now is None) == (cycle_end is None):
        raise TypeError("Pass either now (an open cycle) or cycle_end (a closed one).")
    end = now if now is not None else start_of_hour(cycle_end)
    return credits_covered(attribution_id=attribution_id, start=start_of_hour(cycle_start), end=end)


def billable_credits(*, attribution_id: str, now: datetime) -> Decimal:
    """Billable credits: the usage-ledger balance minus what grants covered since the cost
    center's cycle start (DESIGN §7; the cycle's window as `cycle_credits_covered` defines it).
    The one definition; billing.selectors re-exports it."""

    balance = usage_balance(attribution_id=attribution_id)
    cost_center = cost_center_get(attribution_id=attribution_id)
    if cost_center is None:
        return balance
    return balance - cycle_credits_covered(
        attribution_id=attribution_id, cycle_start=cost_center.billing_cycle_start, now=now
    )
