"""Balance snapshots: saved at each reset and hourly by `credits.snapshot`, deleted by backdated writes.

Invariants (each write holds the ledger lock, so they hold between transactions):
- a snapshot at `at` is the engine's state at `at` given everything stored now; a grant, void or
  reset taking effect at or before `at` deletes it (`snapshots_invalidate`);
- `GrantUsage` rows cover history exactly up to the newest snapshot: a new snapshot is always
  computed from the newest one before it and adds the rows for the span in between, and an
  invalidation deletes the rows after the newest snapshot left.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from core.errors import LockBusy
from core.money import format_credits
from core.services_tx import job, runs_in_callers_transaction, service, writes_nothing
from core.timeutils import format_rfc3339
from credits.engine import RolloverChildId, truncate_to_minute
from credits.models import BalanceSnapshot, Grant, GrantUsage, Ledger
from credits.selectors import LedgerComputation, ledger_compute, public_feature_key
from credits.services.ledgers import ledger_lock

logger = logging.getLogger(__name__)


@writes_nothing
def snapshot_grace() -> timedelta:
    """How late usage may still arrive: periodic snapshots stay this far behind now."""
    return timedelta(minutes=int(getattr(settings, "TALLY_SNAPSHOT_GRACE_MINUTES", 10)))


@writes_nothing
def periodic_snapshot_time(now: datetime) -> datetime:
    """Where the hourly job cuts: now minus the grace, down to the whole hour.

    A snapshot freezes all usage before it, so it must not cut usage that can still change.
    usage.selectors counts not-yet-rated meter usage per hour and the rating job rewrites the
    current hour's draft entry, so an hour is settled only once it is over and the grace has
    passed; a workspace's draft entry sits at the time it was last rated (about now).
    """
    return truncate_to_minute(now - snapshot_grace()).replace(minute=0)


@runs_in_callers_transaction
def snapshots_invalidate(*, ledger: Ledger, effective_at: datetime) -> int:
    """Delete the snapshots a write taking effect at `effective_at` makes stale (at or after it)
    and the grant usage stored past the newest snapshot left. Call holding the ledger lock."""
    deleted, _ = BalanceSnapshot.objects.filter(ledger=ledger, at__gte=effective_at).delete()
    if deleted:
        newest = (
            BalanceSnapshot.objects.filter(ledger=ledger).order_by("-at").values_list("at", flat=True).first()
        )
        stale = GrantUsage.objects.filter(ledger=ledger)
        if newest is not None:
            stale = stale.filter(period_end__gt=newest)
        stale.delete()
    return deleted


@runs_in_callers_transaction
def snapshot_store(
    *,
    computation: LedgerComputation,
    reason: str,
    children: dict[RolloverChildId, Grant] | None = None,
) -> BalanceSnapshot:
    """Store `computation` (made from the newest snapshot, under the ledger lock) as a snapshot at
    its `at`, with the grant usage of the span it computed."""
    children = children or {}
    balances = {}
    for grant_id, balance in computation.balances.items():
        if isinstance(grant_id, RolloverChildId):
            if grant_id not in children:
                logger.warning(
                    "Ledger %s: rollover child %s was not stored.", computation.attribution_id, grant_id
                )
                continue
            grant_id = children[grant_id].id
        balances[str(grant_id)] = format_credits(balance)
    snapshot = BalanceSnapshot.objects.create(
        ledger=computation.ledger,
        at=computation.at,
        period_start=computation.period_start,
        balances=balances,
        overage={public_feature_key(f): format_credits(v) for f, v in computation.result.overage.items()},
        usage={public_feature_key(f): format_credits(v) for f, v in computation.period_usage.items()},
        reason=reason,
    )
    GrantUsage.objects.bulk_create(
        [
            GrantUsage(
                ledger=computation.ledger,
                grant_id=grant_id,
                period_start=segment.start,
                period_end=segment.end,
                amount=paid,
            )
            for segment in computation.result.segments
            for grant_id, paid in segment.grant_usage.items()
            if paid > 0 and not isinstance(grant_id, RolloverChildId)
        ]
    )
    return snapshot


def _prune(ledger: Ledger, now: datetime) -> int:
    """Beyond TALLY_SNAPSHOT_KEEP_DAYS (default 7) keep the last periodic snapshot of each UTC day
    (reset snapshots always): old cutlines stay cheap, the table does not grow by the hour."""
    cutoff = now - timedelta(days=int(getattr(settings, "TALLY_SNAPSHOT_KEEP_DAYS", 7)))
    old = (
        BalanceSnapshot.objects.filter(ledger=ledger, reason=BalanceSnapshot.Reason.PERIODIC, at__lt=cutoff)
        .order_by("-at")
        .values_list("id", "at")
    )
    kept_days, doomed = set(), []
    for snapshot_id, at in old:
        if at.date() in kept_days:
            doomed.append(snapshot_id)
        else:
            kept_days.add(at.date())
    if doomed:
        BalanceSnapshot.objects.filter(id__in=doomed).delete()
    return len(doomed)


@service
def balance_snapshot_save(
    *, ledger_id: int, at: datetime, now: datetime | None = None
) -> BalanceSnapshot | None:
    """A periodic snapshot of one ledger at `at` (truncated to the minute); None when the ledger
    already has one at or after `at`. Takes the ledger lock (LockBusy when busy)."""
    at = truncate_to_minute(at)
    attribution_id = Ledger.objects.values_list("attribution_id", flat=True).get(pk=ledger_id)
    ledger = ledger_lock(attribution_id=attribution_id)
    newest = (
        BalanceSnapshot.objects.filter(ledger=ledger).order_by("-at").values_list("at", flat=True).first()
    )
    if newest is not None and newest >= at:
        return None
    computation = ledger_compute(attribution_id=attribution_id, ledger=ledger, at=at, track_everything=True)
    snapshot = snapshot_store(computation=computation, reason=BalanceSnapshot.Reason.PERIODIC)
    _prune(ledger, now or at)
    return snapshot


@job
def balance_snapshots_save_due(*, now: datetime | None = None) -> dict:
    """The `credits.snapshot` job: a snapshot per ledger at `periodic_snapshot_time`, one
    transaction each.

    A busy ledger is skipped (the next run takes it); a failing one is logged and makes the run
    partial. Safe to run twice: a ledger with a snapshot at or after the time is left alone.
    """
    now = now or timezone.now()
    at = periodic_snapshot_time(now)
    counts = {"saved": 0, "up_to_date": 0, "busy": 0, "failed": 0}
    for ledger_id in list(Ledger.objects.order_by("id").values_list("id", flat=True)):
        try:
            saved = balance_snapshot_save(ledger_id=ledger_id, at=at, now=now)
        except LockBusy:
            counts["busy"] += 1
            continue
        except Exception:
            logger.exception("Snapshot of ledger %s failed", ledger_id)
            counts["failed"] += 1
            continue
        counts["saved" if saved is not None else "up_to_date"] += 1
    return {"status": "partial" if counts["failed"] else "ok", "at": format_rfc3339(at), **counts}
