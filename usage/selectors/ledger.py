"""Reads of the usage ledger. Sums happen in the database, never over rows in Python."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import QuerySet, Sum

from core.errors import ValidationFailed
from core.money import ZERO, quantize_credits
from core.pagination import pagination_block
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
class UsagePage:
    entries: list[UsageEntry]
    credits_used: Decimal
    pagination: dict


def usage_list(
    *,
    attribution_id: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    page: int = 1,
    per_page: int = 50,
    order: str = "desc",
) -> UsagePage:
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
    total_count = entries.count()
    ordering = ("effective_time", "id") if order == "asc" else ("-effective_time", "-id")
    offset = (page - 1) * per_page
    rows = list(entries.order_by(*ordering)[offset : offset + per_page])
    return UsagePage(
        entries=rows,
        credits_used=quantize_credits(aggregate["total"]) if aggregate["total"] is not None else ZERO,
        pagination=pagination_block(page=page, per_page=per_page, total=total_count),
    )


def cost_center_get(*, attribution_id: str) -> CostCenter | None:
    return CostCenter.objects.filter(attribution_id=attribution_id).first()


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
