"""Reads of the usage ledger. Sums happen in the database, never over rows in Python."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet, Sum

from core.errors import ValidationFailed
from core.money import ZERO, quantize_credits, to_credits
from core.months import add_months
from usage.models import CostCenter, CostCenterVersion, UsageEntry
from usage.selectors.meters import pending_meter_credits

MAX_LIST_RANGE = timedelta(days=300)


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


def default_spending_limit() -> Decimal:
    return to_credits(str(settings.TALLY_DEFAULT_SPENDING_LIMIT))


def cost_center_default(*, attribution_id: str, now: datetime) -> CostCenter:
    """The cost center an attribution gets when it is created lazily, unsaved: strategy other,
    the default limit, a cycle of one calendar month from `now`."""
    return CostCenter(
        attribution_id=attribution_id,
        spending_limit=default_spending_limit(),
        billing_strategy=CostCenter.BillingStrategy.OTHER,
        billing_cycle_start=now,
        next_billing_time=add_months(now, 1),
    )


def cost_center_get_or_default(*, attribution_id: str, now: datetime) -> CostCenter:
    """For reads: the saved cost center, or (unsaved) the one lazy creation at `now` would
    make, so a GET shows the same figures without writing."""
    existing = cost_center_get(attribution_id=attribution_id)
    return existing if existing is not None else cost_center_default(attribution_id=attribution_id, now=now)


def cost_center_versions(*, cost_center: CostCenter) -> QuerySet[CostCenterVersion]:
    return cost_center.versions.order_by("-created_at", "-id")


USAGE_KINDS = (UsageEntry.Kind.WORKSPACE, UsageEntry.Kind.METER, UsageEntry.Kind.TRAFFIC)


def credits_used(*, attribution_id: str, start: datetime, end: datetime) -> Decimal:
    """Rated usage credits (workspace, meter and traffic entries, drafts included) with an
    effective time in [start, end), plus not-yet-rated meter usage of hours starting in that
    range. What the `credits` feature of a credits ledger burns."""
    total = UsageEntry.objects.filter(
        attribution_id=attribution_id, kind__in=USAGE_KINDS, effective_time__gte=start, effective_time__lt=end
    ).aggregate(total=Sum("credits"))["total"]
    rated = quantize_credits(total) if total is not None else ZERO
    return rated + pending_meter_credits(attribution_id=attribution_id, start=start, end=end)
