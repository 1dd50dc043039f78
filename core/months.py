"""Calendar-month arithmetic and the billing-cycle advance: pure (standard library only), so the
credits engine, the cost centers and cycle close share one definition.

Months are always counted from an anchor, never chained: `add_months(anchor, 3)` is the anchor's
day three months on (clamped to a shorter month's last day), not three one-month steps that
would each clamp and drift (Jan 31 -> Feb 28 -> Mar 28).
"""

import calendar
from datetime import datetime
from typing import NamedTuple


def add_months(moment: datetime, months: int) -> datetime:
    """Same day and time `months` calendar months later, clamped to the month's last day."""
    year, month_index = divmod(moment.month - 1 + months, 12)
    year += moment.year
    day = min(moment.day, calendar.monthrange(year, month_index + 1)[1])
    return moment.replace(year=year, month=month_index + 1, day=day)


class CycleAdvance(NamedTuple):
    months: int  # whole months moved, at least one
    start: datetime  # the new cycle's start
    next_billing_time: datetime  # the new cycle's end


def cycle_advance(anchor: datetime, now: datetime) -> CycleAdvance:
    """Move a billing cycle that started at `anchor` on by whole calendar months (counted from
    the anchor) until its end is after `now`; always at least one month."""
    months = 1
    while add_months(anchor, months + 1) <= now:
        months += 1
    return CycleAdvance(months, add_months(anchor, months), add_months(anchor, months + 1))
