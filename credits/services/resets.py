"""Resets: a new period for a ledger, with rollover children and a snapshot, in one transaction."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from audit.services import audit_record
from core.attribution import normalize_attribution_id
from core.errors import Conflict, ValidationFailed
from core.money import ZERO, format_credits
from core.services_tx import runs_in_callers_transaction, service_of
from core.timeutils import format_rfc3339
from credits.engine import RolloverChildId, truncate_to_minute
from credits.models import BalanceSnapshot, Grant, Reset
from credits.selectors import ORIGIN, LedgerComputation, last_reset_at, ledger_compute, public_feature_key
from credits.services.ledgers import ledger_lock
from credits.services.snapshots import snapshot_store, snapshots_invalidate


@dataclass(frozen=True)
class LedgerResetOutcome:
    reset: Reset
    rollover_grants: list[Grant]
    snapshot: BalanceSnapshot


def _record_closing(reset: Reset, computation: LedgerComputation, *, previous_reset: datetime | None) -> None:
    """Keep the closed period's usage and written-off overage on the reset row (coverage reads it)."""
    last_segment = computation.result.segments[-1] if computation.result.segments else None
    reset.closing_usage = {
        public_feature_key(f): format_credits(computation.usage_since(f, previous_reset or ORIGIN))
        for f in computation.features
    }
    # A segment's overage is taken at its end, before a reset there drops it.
    reset.closing_overage = {
        public_feature_key(f): format_credits(last_segment.overage.get(f, ZERO) if last_segment else ZERO)
        for f in computation.features
    }
    reset.save(update_fields=["closing_usage", "closing_overage"])


@runs_in_callers_transaction
def ledger_reset_in_callers_transaction(
    *,
    attribution_id: str,
    effective_at: datetime | None = None,
    now: datetime | None = None,
    created_by: str = "",
) -> LedgerResetOutcome:
    """Reset the attribution's ledger at `effective_at` (default now; truncated to the minute).

    Not in the future, not before the last reset (400), not twice at one time (409). Each grant
    active at that time with a rollover becomes a child grant effective then (its original or
    remaining amount, clamped to [min, max]); every other grant ends; overage is dropped. The
    children and a snapshot at the reset are stored in the same transaction, under the ledger
    lock (NOWAIT, LockBusy when busy); snapshots after the reset time are deleted first.
    """
    attribution_id = normalize_attribution_id(attribution_id)
    now = now or timezone.now()
    moment = effective_at or now
    if moment > now:
        raise ValidationFailed("A reset cannot be in the future.", code="reset_in_future")
    moment = truncate_to_minute(moment)
    ledger = ledger_lock(attribution_id=attribution_id, create=True)
    last = last_reset_at(ledger=ledger)
    if last is not None and moment < last:
        raise ValidationFailed(
            f"A reset cannot be before the ledger's last reset at {format_rfc3339(last)}.",
            code="before_last_reset",
        )
    if last is not None and moment == last:
        raise Conflict(f"The ledger was already reset at {format_rfc3339(last)}.", code="already_reset")
    snapshots_invalidate(ledger=ledger, effective_at=moment)
    reset = Reset.objects.create(ledger=ledger, effective_at=moment, created_by=created_by[:200])
    ledger.last_reset_at = moment
    ledger.save(update_fields=["last_reset_at", "updated_at"])
    computation = ledger_compute(
        attribution_id=attribution_id, ledger=ledger, at=moment, track_everything=True, rollover_at=moment
    )
    children: dict[RolloverChildId, Grant] = {}
    parents = Grant.objects.in_bulk([spec.parent_id for spec in computation.result.rollover_children])
    for spec in computation.result.rollover_children:
        parent = parents[spec.parent_id]
        child = Grant(
            ledger=ledger,
            feature=parent.feature,
            amount=spec.amount,
            priority=parent.priority,
            effective_at=moment,
            expires_at=parent.expires_at,
            rollover_type=parent.rollover_type,
            rollover_max_amount=parent.rollover_max_amount,
            rollover_min_amount=parent.rollover_min_amount,
            metadata=parent.metadata,
            parent=parent,
            reset=reset,
        )
        child.full_clean()
        child.save()
        children[spec.id] = child
    _record_closing(reset, computation, previous_reset=last)
    snapshot = snapshot_store(computation=computation, reason=BalanceSnapshot.Reason.RESET, children=children)
    audit_record(
        action="ledger.reset",
        object_type="ledger",
        object_id=ledger.pk,
        attribution_id=attribution_id,
        before={"last_reset_at": last},
        after={
            "last_reset_at": moment,
            "reset_id": reset.pk,
            "closing_usage": reset.closing_usage,
            "closing_overage": reset.closing_overage,
            "rollover_grants": [
                {"grant": child.pk, "parent": child.parent_id, "amount": format_credits(child.amount)}
                for child in children.values()
            ],
        },
    )
    return LedgerResetOutcome(reset=reset, rollover_grants=list(children.values()), snapshot=snapshot)


ledger_reset = service_of(ledger_reset_in_callers_transaction, name="ledger_reset")
