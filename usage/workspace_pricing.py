"""The workspace pricer (pure: no ORM). Credits = credits_per_minute x runtime_seconds / 60.

Runtime runs from started_at to stopping_time, else stopped_time, else now; it is rounded to
the nearest whole second (half away from zero) and a stop before the start gives 0. The
charge is quantized once, from the whole runtime, never summed from rounded pieces.
"""

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from core.money import quantize_credits, to_decimal

logger = logging.getLogger(__name__)

# 1/6 credit per minute (10 an hour), at full Decimal precision.
DEFAULT_CREDITS_PER_MINUTE = Decimal(1) / Decimal(6)
_MICROSECOND = timedelta(microseconds=1)


def runtime_end(*, stopping_time: datetime | None, stopped_time: datetime | None, now: datetime) -> datetime:
    """The moment the workspace stopped costing: stopping, else stopped, else now."""
    if stopping_time is not None:
        return stopping_time
    if stopped_time is not None:
        return stopped_time
    return now


def runtime_seconds(*, started_at: datetime, end: datetime) -> int:
    """Whole seconds from start to end, rounded to nearest; 0 when end is before start."""
    microseconds = (end - started_at) // _MICROSECOND  # integer arithmetic: no float anywhere
    if microseconds <= 0:
        return 0
    return int((Decimal(microseconds) / Decimal(1_000_000)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def credits_for_seconds(*, credits_per_minute: Decimal, seconds: int) -> Decimal:
    if seconds < 0:
        raise ValueError("Runtime cannot be negative.")
    rate = to_decimal(credits_per_minute)
    return quantize_credits(rate * Decimal(seconds) / Decimal(60))


class Pricer:
    """Prices workspace runtime by class; unknown classes fall back to 1/6 credit a minute."""

    def __init__(self, rates: Mapping[str, Decimal]):
        self.rates = dict(rates)

    def rate_for(self, workspace_class: str) -> Decimal:
        rate = self.rates.get(workspace_class)
        if rate is None:
            logger.error(
                "Unknown workspace class %r: priced at the default %s credits per minute.",
                workspace_class,
                "1/6",
            )
            return DEFAULT_CREDITS_PER_MINUTE
        return rate

    def credits(
        self,
        *,
        workspace_class: str,
        started_at: datetime,
        stopping_time: datetime | None,
        stopped_time: datetime | None,
        now: datetime,
    ) -> Decimal:
        end = runtime_end(stopping_time=stopping_time, stopped_time=stopped_time, now=now)
        seconds = runtime_seconds(started_at=started_at, end=end)
        return credits_for_seconds(credits_per_minute=self.rate_for(workspace_class), seconds=seconds)
