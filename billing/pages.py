"""What a team's billing page shows, gathered in a handful of aggregate queries."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from billing.models import DisputeBlock, Team
from billing.selectors import billable_credits
from core.money import ZERO, quantize_credits
from credits.selectors import ledger_balance
from usage.models import UsageEntry
from usage.selectors import USAGE_KINDS, cost_center_get_or_default, usage_balance

CHART_KINDS = [k.value for k in USAGE_KINDS]
CHART_COLOURS = {"workspace": "#2f6fed", "meter": "#0f9d8a", "traffic": "#c77c02"}


@dataclass
class ChartBar:
    day: date
    x: int
    segments: list[dict] = field(default_factory=list)
    total: Decimal = ZERO


@dataclass
class UsageChart:
    bars: list[ChartBar]
    max_total: Decimal
    width: int
    height: int
    bar_width: int
    kinds: list[tuple[str, str]]

    @property
    def days(self) -> int:
        return len(self.bars)


def usage_chart(*, attribution_id: str, start: datetime, end: datetime, height: int = 160) -> UsageChart:
    """Daily usage credits by kind over [start, end): one SQL GROUP BY, drawn as stacked bars."""
    rows = (
        UsageEntry.objects.filter(
            attribution_id=attribution_id,
            kind__in=CHART_KINDS,
            effective_time__gte=start,
            effective_time__lt=end,
        )
        .annotate(day=TruncDate("effective_time"))
        .values("day", "kind")
        .annotate(total=Sum("credits"))
    )
    per_day: dict[date, dict[str, Decimal]] = defaultdict(dict)
    for row in rows:
        per_day[row["day"]][row["kind"]] = row["total"]
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    totals = [sum(per_day[d].values(), ZERO) for d in days]
    max_total = max(totals, default=ZERO) or Decimal(1)
    bar_width = 22
    bars = []
    for index, day in enumerate(days):
        bar = ChartBar(day=day, x=index * (bar_width + 4))
        y = height
        for kind in CHART_KINDS:
            value = per_day[day].get(kind, ZERO)
            if value <= 0:
                continue
            h = int((value / max_total) * (height - 10))
            y -= h
            bar.segments.append(
                {
                    "kind": kind,
                    "value": quantize_credits(value),
                    "y": y,
                    "h": max(h, 1),
                    "colour": CHART_COLOURS[kind],
                }
            )
            bar.total += value
        bars.append(bar)
    return UsageChart(
        bars=bars,
        max_total=max_total,
        width=max(len(days) * (bar_width + 4), 1),
        height=height,
        bar_width=bar_width,
        kinds=[(k, CHART_COLOURS[k]) for k in CHART_KINDS],
    )


@dataclass
class BillingOverview:
    team: Team
    balance: Decimal
    billable: Decimal
    spending_limit: Decimal
    used_percent: int
    level: str  # ok | warn | over
    cycle_start: datetime
    next_billing_time: datetime
    strategy: str
    blocked: bool
    disputes: list
    grants: list
    chart: UsageChart


def team_billing_overview(*, team: Team, now: datetime | None = None) -> BillingOverview:

    now = now or timezone.now()
    attribution_id = team.attribution_id
    cost_center = cost_center_get_or_default(attribution_id=attribution_id, now=now)
    billable = billable_credits(attribution_id=attribution_id, now=now)
    limit = cost_center.spending_limit
    used = int((billable / limit) * 100) if limit > 0 else 0
    level = "over" if limit > 0 and used >= 100 else "warn" if limit > 0 and used >= 80 else "ok"
    credits = ledger_balance(attribution_id=attribution_id, at=now)
    return BillingOverview(
        team=team,
        balance=usage_balance(attribution_id=attribution_id),
        billable=billable,
        spending_limit=limit,
        used_percent=max(0, used),
        level=level,
        cycle_start=cost_center.billing_cycle_start,
        next_billing_time=cost_center.next_billing_time,
        strategy=cost_center.billing_strategy,
        blocked=cost_center.blocked_at is not None,
        disputes=list(
            DisputeBlock.objects.filter(attribution_id=attribution_id, status__in=["open", "lost"]).order_by(
                "-created_at"
            )
        ),
        grants=credits.grants,
        chart=usage_chart(attribution_id=attribution_id, start=cost_center.billing_cycle_start, end=now),
    )
