"""A ledger's history: GRANT, VOID, RESET and GRANT_USAGE entries ordered by time, paged in SQL.

Grants, voids and resets are rows. GRANT_USAGE (what a grant paid in a period) is stored with
every snapshot for the span since the previous one (`GrantUsage`), so everything up to the newest
snapshot is one UNION ALL query, counted and sliced (LIMIT/OFFSET) by the database. What
happened after the newest snapshot — at most about an hour of it, see `credits.snapshot` — is
computed for that span only and placed after the stored part; it is the only part merged in
memory, and it is bounded by the activity since the snapshot, not by history.
"""

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import (
    BigIntegerField,
    CharField,
    DateTimeField,
    DecimalField,
    F,
    IntegerField,
    QuerySet,
    Value,
)
from django.db.models.functions import Cast

from core.errors import ValidationFailed
from core.money import CREDITS_MAX_DIGITS, CREDITS_PLACES
from credits.engine import RolloverChildId, truncate_to_minute
from credits.models import BalanceSnapshot, Grant, GrantUsage, Ledger, Reset
from credits.selectors.computation import ORIGIN, consistent_read, cutline, ledger_compute, ledger_get


class EntryType(enum.StrEnum):
    RESET = "RESET"
    VOID = "VOID"
    GRANT = "GRANT"
    GRANT_USAGE = "GRANT_USAGE"


# At one instant a reset comes first, then voids, then new grants (a rollover child starts at
# its reset), then what grants paid from that instant on.
ENTRY_ORDER = {EntryType.RESET: 0, EntryType.VOID: 1, EntryType.GRANT: 2, EntryType.GRANT_USAGE: 3}
ENTRY_TYPE_BY_ORDER = {order: entry_type for entry_type, order in ENTRY_ORDER.items()}
COLUMNS = (
    "entry_order",
    "entry_time",
    "row_id",
    "ref_grant",
    "ref_reset",
    "ref_feature",
    "entry_amount",
    "entry_from",
    "entry_to",
)
# Typed NULLs (CAST): PostgreSQL resolves a UNION column from its first branches, and an untyped
# NULL there would become text.
_NULL_TIME = Cast(Value(None), DateTimeField())
_NULL_ID = Cast(Value(None), BigIntegerField())
_NULL_TEXT = Cast(Value(None), CharField())
_NULL_AMOUNT = Cast(Value(None), DecimalField(max_digits=CREDITS_MAX_DIGITS, decimal_places=CREDITS_PLACES))


@dataclass(frozen=True)
class HistoryEntry:
    type: EntryType
    time: datetime
    grant_id: int | None
    reset_id: int | None
    feature: str | None
    amount: Decimal | None
    period_start: datetime | None = None
    period_end: datetime | None = None
    sort_key: tuple = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class LedgerHistory:
    """A ledger's history in [start, end); `page` reads one page and the total (core.pagination)."""

    attribution_id: str
    start: datetime
    end: datetime

    def page(self, *, offset: int, limit: int) -> tuple[list[HistoryEntry], int]:
        return _history_page(self.attribution_id, self.start, self.end, offset=offset, limit=limit)


def _entry_from_row(row: tuple) -> HistoryEntry:
    order, time, row_id, grant_id, reset_id, feature, amount, period_start, period_end = row
    return HistoryEntry(
        type=ENTRY_TYPE_BY_ORDER[order],
        time=time,
        grant_id=grant_id,
        reset_id=reset_id,
        feature=feature,
        amount=amount,
        period_start=period_start,
        period_end=period_end,
        sort_key=(time, order, row_id),
    )


def _stored_entries(ledger: Ledger, start: datetime, end: datetime) -> QuerySet:
    """One UNION ALL of the stored entries with a time in [start, end), not yet ordered."""
    grants = (
        Grant.objects.filter(ledger=ledger, effective_at__gte=start, effective_at__lt=end)
        .annotate(
            entry_order=Value(ENTRY_ORDER[EntryType.GRANT], output_field=IntegerField()),
            entry_time=F("effective_at"),
            row_id=F("id"),
            ref_grant=F("id"),
            ref_reset=F("reset_id"),
            ref_feature=F("feature__key"),
            entry_amount=F("amount"),
            entry_from=_NULL_TIME,
            entry_to=_NULL_TIME,
        )
        .order_by()
        .values_list(*COLUMNS)
    )
    voids = (
        Grant.objects.filter(ledger=ledger, voided_at__isnull=False, voided_at__gte=start, voided_at__lt=end)
        .annotate(
            entry_order=Value(ENTRY_ORDER[EntryType.VOID], output_field=IntegerField()),
            entry_time=F("voided_at"),
            row_id=F("id"),
            ref_grant=F("id"),
            ref_reset=_NULL_ID,
            ref_feature=F("feature__key"),
            entry_amount=_NULL_AMOUNT,
            entry_from=_NULL_TIME,
            entry_to=_NULL_TIME,
        )
        .order_by()
        .values_list(*COLUMNS)
    )
    resets = (
        Reset.objects.filter(ledger=ledger, effective_at__gte=start, effective_at__lt=end)
        .annotate(
            entry_order=Value(ENTRY_ORDER[EntryType.RESET], output_field=IntegerField()),
            entry_time=F("effective_at"),
            row_id=F("id"),
            ref_grant=_NULL_ID,
            ref_reset=F("id"),
            ref_feature=_NULL_TEXT,
            entry_amount=_NULL_AMOUNT,
            entry_from=_NULL_TIME,
            entry_to=_NULL_TIME,
        )
        .order_by()
        .values_list(*COLUMNS)
    )
    paid = (
        GrantUsage.objects.filter(ledger=ledger, period_start__gte=start, period_start__lt=end)
        .annotate(
            entry_order=Value(ENTRY_ORDER[EntryType.GRANT_USAGE], output_field=IntegerField()),
            entry_time=F("period_start"),
            row_id=F("id"),
            ref_grant=F("grant_id"),
            ref_reset=_NULL_ID,
            ref_feature=F("grant__feature__key"),
            entry_amount=F("amount"),
            entry_from=F("period_start"),
            entry_to=F("period_end"),
        )
        .order_by()
        .values_list(*COLUMNS)
    )
    return grants.union(voids, resets, paid, all=True)


def _computed_grant_usage(ledger: Ledger, start: datetime, end: datetime) -> list[HistoryEntry]:
    """GRANT_USAGE after the newest snapshot, up to `end`: one engine run from that snapshot."""
    computation = ledger_compute(
        attribution_id=ledger.attribution_id, ledger=ledger, at=end, track_everything=True
    )
    entries = []
    for segment in computation.result.segments:
        if not start <= segment.start < end:
            continue
        for grant_id, paid in segment.grant_usage.items():
            if isinstance(grant_id, RolloverChildId) or paid <= 0:
                continue
            grant = computation.grants[grant_id]
            entries.append(
                HistoryEntry(
                    type=EntryType.GRANT_USAGE,
                    time=segment.start,
                    grant_id=grant_id,
                    reset_id=None,
                    feature=grant.feature_key,
                    amount=paid,
                    period_start=segment.start,
                    period_end=segment.end,
                    sort_key=(segment.start, ENTRY_ORDER[EntryType.GRANT_USAGE], grant_id),
                )
            )
    return entries


def ledger_history(
    *,
    attribution_id: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> LedgerHistory:
    """Entries with a time in [start, end), oldest first; `end` defaults to now (rounded up to
    the minute, like a balance's cutline), `start` to the beginning of the ledger."""
    end = cutline(end or now)
    start = truncate_to_minute(start) if start is not None else ORIGIN
    if start > end:
        raise ValidationFailed("from must not be after to.", code="invalid_range")
    return LedgerHistory(attribution_id=attribution_id, start=start, end=end)


def _history_page(
    attribution_id: str, start: datetime, end: datetime, *, offset: int, limit: int
) -> tuple[list[HistoryEntry], int]:
    """The stored part is counted and sliced by the database; the computed part after the
    newest snapshot is the one bounded list merged here. One consistent read for both."""
    with consistent_read():
        ledger = ledger_get(attribution_id=attribution_id)
        if ledger is None:
            return [], 0
        # Stored grant usage reaches exactly up to the newest snapshot (of all, not only <= end).
        newest = (
            BalanceSnapshot.objects.filter(ledger=ledger).order_by("-at").values_list("at", flat=True).first()
        )
        boundary = min(max(newest or ORIGIN, start), end)
        stored = _stored_entries(ledger, start, boundary)
        stored_total = stored.count()
        recent = sorted(
            [_entry_from_row(row) for row in _stored_entries(ledger, boundary, end)]
            + (_computed_grant_usage(ledger, boundary, end) if boundary < end else []),
            key=lambda e: e.sort_key,
        )
        entries: list[HistoryEntry] = []
        if offset < stored_total:
            rows = stored.order_by("entry_time", "entry_order", "row_id")[offset : offset + limit]
            entries = [_entry_from_row(row) for row in rows]
        recent_offset = max(0, offset - stored_total)
        entries += recent[recent_offset : recent_offset + limit - len(entries)]
    return entries, stored_total + len(recent)
