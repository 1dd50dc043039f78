"""What grants paid for rated credits in a time range: a billing cycle's grant coverage.

Within one reset period the engine pays carried overage first, so what grants have paid so far
is exactly the period's usage minus its overage (generic `credits` feature only: a meter feature
pays meter units, not credits). Coverage in [start, end) is therefore "paid so far" at `end`
minus "paid so far" at `start`; each reset inside the range closes a period, whose usage and
written-off overage the reset row keeps (`Reset.closing_usage` / `closing_overage`). Two
snapshot-based balance computations and one small read of resets: the cost does not grow with
history.
"""

from datetime import datetime
from decimal import Decimal

from core.money import ZERO
from credits.models import GENERIC_FEATURE_KEY, Ledger
from credits.selectors.computation import consistent_read, cutline, ledger_compute, ledger_get


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


def billable_credits(*, attribution_id: str, now: datetime) -> Decimal:
    """Billable credits: the usage-ledger balance minus what grants covered since the cost
    center's cycle start (DESIGN §7). The one definition; billing.selectors re-exports it."""
    from usage.selectors import cost_center_get, usage_balance

    balance = usage_balance(attribution_id=attribution_id)
    cost_center = cost_center_get(attribution_id=attribution_id)
    if cost_center is None:
        return balance
    return balance - credits_covered(
        attribution_id=attribution_id, start=cost_center.billing_cycle_start, end=now
    )
