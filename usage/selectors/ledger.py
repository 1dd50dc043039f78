"""Reads of the usage ledger. Sums happen in the database, never over rows in Python."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import F, Max, Min, QuerySet, Sum

from core.errors import ValidationFailed
from core.money import ZERO, quantize_credits, to_credits
from core.months import add_months
from usage.hooks import registered_payers
from usage.models import CostCenter, CostCenterVersion, MeterRollup, UsageEntry
from usage.selectors.meters import pending_meter_credits

MAX_LIST_RANGE = timedelta(days=300)
USAGE_KINDS = (UsageEntry.Kind.WORKSPACE, UsageEntry.Kind.METER, UsageEntry.Kind.TRAFFIC)


def usage_balance(*, attribution_id: str) -> Decimal:
    """GetBalance: the sum of every entry of the attribution, drafts included, plus the
    priced meter rollups the rating job has not reached yet (so an event counts as soon as
    its ingest request returns)."""
    total = UsageEntry.objects.filter(attribution_id=attribution_id).aggregate(total=Sum("credits"))["total"]
    rated = quantize_credits(total) if total is not None else ZERO
    return rated + pending_meter_credits(attribution_id=attribution_id)


@dataclass(frozen=True)
class UsageList:
    entries: QuerySet[UsageEntry]  # ordered; the caller pages it
    credits_used: Decimal  # over the whole range


def usage_list(
    *,
    attribution_id: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    order: str = "desc",
) -> UsageList:
    """ListUsage over [start, end): end defaults to now, start to 300 days before end."""
    end = end or now
    start = start or end - MAX_LIST_RANGE
    if start > end:
        raise ValidationFailed("from must not be after to.", code="invalid_range")
    if end - start > MAX_LIST_RANGE:
        raise ValidationFailed("The range from..to may span at most 300 days.", code="range_too_long")
    if order not in ("asc", "desc"):
        raise ValidationFailed("order must be asc or desc.", code="invalid_order")
    entries = UsageEntry.objects.filter(
        attribution_id=attribution_id, effective_time__gte=start, effective_time__lt=end
    )
    aggregate = entries.aggregate(total=Sum("credits"))
    ordering = ("effective_time", "id") if order == "asc" else ("-effective_time", "-id")
    return UsageList(
        entries=entries.order_by(*ordering),
        credits_used=quantize_credits(aggregate["total"]) if aggregate["total"] is not None else ZERO,
    )


def cost_center_get(*, attribution_id: str) -> CostCenter | None:
    return CostCenter.objects.filter(attribution_id=attribution_id).first()


def effective_spending_limit(cost_center: CostCenter) -> Decimal:
    """The limit that applies: finance's spending limit, or the team's own budget when it set a
    lower one (finance's limit stays the ceiling: lowered below the budget later, it wins)."""
    budget = cost_center.team_budget
    if budget is None:
        return cost_center.spending_limit
    return min(cost_center.spending_limit, budget)


def default_spending_limit() -> Decimal:
    return to_credits(str(settings.TALLY_DEFAULT_SPENDING_LIMIT))


def first_cycle_starts(*, attribution_ids: Iterable[str], now: datetime) -> dict[str, datetime]:
    """Where a cost center created at `now` starts its first cycle, per attribution.

    At `now`, unless the attribution already has usage then (rated usage entries, or meter
    minutes the rating job has not reached): then at the start of the hour of its earliest
    usage, so no usage lies before the first cycle and every credit of it is closed, covered
    and invoiced with a cycle. The hour is the grid rating writes meter entries on (HH:00) and
    coverage counts a cycle's first hour on, so the rating job turning minutes into an entry
    (and creating the cost center then) does not move the start a read showed before.
    """
    ids = sorted(set(attribution_ids))
    starts = dict.fromkeys(ids, now)
    if not ids:
        return starts
    rated = (
        UsageEntry.objects.filter(attribution_id__in=ids, kind__in=USAGE_KINDS, effective_time__lt=now)
        .values("attribution_id")
        .annotate(first=Min("effective_time"))
        .values_list("attribution_id", "first")
    )
    unrated = (
        MeterRollup.objects.filter(attribution_id__in=ids, rated_total__lt=F("total"), minute__lt=now)
        .values("attribution_id")
        .annotate(first=Min("minute"))
        .values_list("attribution_id", "first")
    )
    for attribution_id, first in (*rated, *unrated):
        hour = first.replace(minute=0, second=0, microsecond=0)
        starts[attribution_id] = min(starts[attribution_id], hour)
    return starts


def cost_center_default(*, attribution_id: str, cycle_start: datetime) -> CostCenter:
    """The cost center an attribution gets when it is created lazily, unsaved: strategy other,
    the default limit, a cycle of one calendar month from `cycle_start` (`first_cycle_starts`)."""
    return CostCenter(
        attribution_id=attribution_id,
        spending_limit=default_spending_limit(),
        billing_strategy=CostCenter.BillingStrategy.OTHER,
        billing_cycle_start=cycle_start,
        next_billing_time=add_months(cycle_start, 1),
    )


def cost_center_get_or_default(*, attribution_id: str, now: datetime) -> CostCenter:
    """For reads: the saved cost center, or (unsaved) the one the first write concerning the
    attribution would create at `now`, so a GET shows the same figures without writing."""
    existing = cost_center_get(attribution_id=attribution_id)
    if existing is not None:
        return existing
    start = first_cycle_starts(attribution_ids=[attribution_id], now=now)[attribution_id]
    return cost_center_default(attribution_id=attribution_id, cycle_start=start)


def cost_center_versions(*, cost_center: CostCenter) -> QuerySet[CostCenterVersion]:
    return cost_center.versions.order_by("-created_at", "-id")


def credits_used(*, attribution_id: str, start: datetime, end: datetime) -> Decimal:
    """Rated usage credits (workspace, meter and traffic entries, drafts included) with an
    effective time in [start, end), plus not-yet-rated meter usage of hours starting in that
    range. What the `credits` feature of a credits ledger burns."""
    total = UsageEntry.objects.filter(
        attribution_id=attribution_id, kind__in=USAGE_KINDS, effective_time__gte=start, effective_time__lt=end
    ).aggregate(total=Sum("credits"))["total"]
    rated = quantize_credits(total) if total is not None else ZERO
    return rated + pending_meter_credits(attribution_id=attribution_id, start=start, end=end)


@dataclass(frozen=True)
class UnregisteredUsage:
    attribution_id: str
    credits: Decimal
    first_usage_at: datetime
    last_usage_at: datetime


def unregistered_usage() -> list[UnregisteredUsage]:
    """Usage from unregistered payers: attributions with rated usage, no cost center and no
    registered payer (`usage.hooks.registered_payers`), with their usage credits so far and
    the first and last usage time, most credits first. Their usage is kept and rated; they
    bill once the payer is registered."""
    rows = (
        UsageEntry.objects.exclude(attribution_id__in=CostCenter.objects.values("attribution_id"))
        .values("attribution_id")
        .annotate(credits=Sum("credits"), first=Min("effective_time"), last=Max("effective_time"))
        .order_by("-credits", "attribution_id")
    )
    summaries = [
        UnregisteredUsage(
            attribution_id=row["attribution_id"],
            credits=row["credits"],
            first_usage_at=row["first"],
            last_usage_at=row["last"],
        )
        for row in rows
    ]
    registered = registered_payers(s.attribution_id for s in summaries)
    return [s for s in summaries if s.attribution_id not in registered]
