"""Grants: create and void. Both take the ledger's row lock (NOWAIT) for their transaction."""

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from audit.services import audit_record, free_form
from core.attribution import normalize_attribution_id
from core.errors import Conflict, NotFound, ValidationFailed
from core.money import format_credits
from core.params import parse_credits
from core.services_tx import runs_in_callers_transaction, service_of, writes_nothing
from core.timeutils import format_rfc3339
from credits.engine import MAX_PRIORITY, truncate_to_minute
from credits.engine import expiration_to_expires_at as engine_expires_at
from credits.models import EXPIRATION_UNITS, GENERIC_FEATURE_KEY, ROLLOVER_TYPES, Feature, Grant, Ledger
from credits.selectors import last_reset_at
from credits.services.ledgers import ledger_lock
from credits.services.snapshots import snapshots_invalidate
from usage.hooks import ensure_registered_payer
from usage.services import cost_centers_create_missing


@writes_nothing
def grant_priority(value: object) -> int:
    """A priority from 0 to MAX_PRIORITY (lower burns first), else a 400 invalid_priority."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PRIORITY:
        raise ValidationFailed(
            f"priority must be a whole number from 0 to {MAX_PRIORITY} (lower burns first).",
            code="invalid_priority",
        )
    return value


def _expiration(count: object, unit: object) -> tuple[int | None, str | None]:
    if count is None and unit is None:
        return None, None
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValidationFailed(
            "expiration count must be a whole number of at least 1.", code="invalid_expiration"
        )
    if unit not in EXPIRATION_UNITS:
        raise ValidationFailed(
            f"expiration duration must be one of {', '.join(EXPIRATION_UNITS)}.", code="invalid_expiration"
        )
    return count, unit


def _rollover(kind: object, max_amount: object, min_amount: object) -> tuple:
    if kind is None:
        if max_amount is not None or min_amount is not None:
            raise ValidationFailed("A rollover amount needs a rollover type.", code="invalid_rollover")
        return None, None, None
    if kind not in ROLLOVER_TYPES:
        raise ValidationFailed(
            f"rollover type must be one of {', '.join(ROLLOVER_TYPES)}.", code="invalid_rollover"
        )
    bounds = []
    for name, value in (("max_amount", max_amount), ("min_amount", min_amount)):
        amount = None if value is None else parse_credits(value, field=f"rollover {name}")
        if amount is not None and amount < 0:
            raise ValidationFailed(f"rollover {name} must not be negative.", code="invalid_rollover")
        bounds.append(amount)
    if bounds[0] is not None and bounds[1] is not None and bounds[1] > bounds[0]:
        raise ValidationFailed("rollover min_amount must not be above max_amount.", code="invalid_rollover")
    return kind, bounds[0], bounds[1]


def _feature(feature_key: str | None) -> Feature | None:
    if feature_key in (None, ""):
        return None
    feature = Feature.objects.filter(key=feature_key).first()
    if feature is None:
        if feature_key == GENERIC_FEATURE_KEY:
            return None  # rated credits need no Feature row
        raise ValidationFailed(f"There is no feature {feature_key!r}.", code="unknown_feature")
    if feature.archived_at is not None:
        raise ValidationFailed(f"Feature {feature_key!r} is archived.", code="feature_archived")
    return feature


@writes_nothing
def ensure_not_before_last_reset(*, ledger: Ledger, moment: datetime, what: str) -> None:
    """Nothing may take effect before the ledger's last reset (DESIGN §6): a 400."""
    last_reset = last_reset_at(ledger=ledger)
    if last_reset is not None and moment < last_reset:
        raise ValidationFailed(
            f"{what} is before the ledger's last reset at {format_rfc3339(last_reset)}.",
            code="before_last_reset",
        )


@writes_nothing
def grant_audit_state(grant: Grant) -> dict:
    """A grant's terms as an audit event records them (credits as 6-place strings)."""

    def credits(value):
        return format_credits(value) if value is not None else None

    return {
        "ledger": grant.ledger.attribution_id,
        "feature": grant.feature.key if grant.feature_id else None,
        "amount": credits(grant.amount),
        "priority": grant.priority,
        "effective_at": grant.effective_at,
        "expires_at": grant.expires_at,
        "rollover_type": grant.rollover_type,
        "rollover_max_amount": credits(grant.rollover_max_amount),
        "rollover_min_amount": credits(grant.rollover_min_amount),
        "metadata": free_form(grant.metadata),
        "parent": grant.parent_id,
        "voided_at": grant.voided_at,
    }


@runs_in_callers_transaction
def grant_create_in_callers_transaction(
    *,
    attribution_id: str,
    amount: Decimal | int | str,
    feature_key: str | None = None,
    priority: int = 1,
    effective_at: datetime | None = None,
    expiration_count: int | None = None,
    expiration_unit: str | None = None,
    rollover_type: str | None = None,
    rollover_max_amount: Decimal | int | str | None = None,
    rollover_min_amount: Decimal | int | str | None = None,
    metadata: dict | None = None,
    now: datetime | None = None,
    expires_at: datetime | None = None,
) -> Grant:
    """A grant on the attribution's ledger (created on first use), effective at `effective_at`
    (default now; truncated to the minute; not before the last reset).

    It expires after `expiration_count` `expiration_unit`s, or at an explicit `expires_at`
    (truncated to the minute; stored like a rolled-over grant's, without a count) — not both.
    An allowance uses `expires_at` to end exactly with its billing cycle.

    Takes the ledger lock (NOWAIT, LockBusy when busy). A grant taking effect at or before a
    snapshot deletes it: the snapshot did not know the grant. Creates the attribution's cost
    center if it has none. UnknownAttribution (400) when the attribution names no registered
    payer: nothing is stored.
    """
    attribution_id = ensure_registered_payer(attribution_id)
    amount = parse_credits(amount, field="amount")
    if amount <= 0:
        raise ValidationFailed("amount must be greater than zero.", code="invalid_amount")
    priority = grant_priority(priority)
    expiration_count, expiration_unit = _expiration(expiration_count, expiration_unit)
    rollover_type, rollover_max_amount, rollover_min_amount = _rollover(
        rollover_type, rollover_max_amount, rollover_min_amount
    )
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise ValidationFailed("metadata must be a JSON object.", code="invalid_metadata")
    effective_at = truncate_to_minute(effective_at or now or timezone.now())
    if expires_at is not None:
        if expiration_count is not None:
            raise ValidationFailed(
                "Give an expiration as a count and unit or as expires_at, not both.",
                code="invalid_expiration",
            )
        expires_at = truncate_to_minute(expires_at)
        if expires_at <= effective_at:
            raise ValidationFailed("expires_at must be after effective_at.", code="invalid_expiration")
    elif expiration_count is not None:
        expires_at = truncate_to_minute(engine_expires_at(effective_at, expiration_count, expiration_unit))

    feature = _feature(feature_key)
    ledger = ledger_lock(attribution_id=attribution_id, create=True)
    ensure_not_before_last_reset(ledger=ledger, moment=effective_at, what="effective_at")
    grant = Grant(
        ledger=ledger,
        feature=feature,
        amount=amount,
        priority=priority,
        effective_at=effective_at,
        expiration_count=expiration_count,
        expiration_unit=expiration_unit,
        expires_at=expires_at,
        rollover_type=rollover_type,
        rollover_max_amount=rollover_max_amount,
        rollover_min_amount=rollover_min_amount,
        metadata=metadata,
    )
    grant.full_clean()
    snapshots_invalidate(ledger=ledger, effective_at=effective_at)
    grant.save()
    cost_centers_create_missing(attribution_ids=[attribution_id], now=now or timezone.now())
    audit_record(
        action="grant.created",
        object_type="grant",
        object_id=grant.pk,
        attribution_id=attribution_id,
        after=grant_audit_state(grant),
    )
    return grant


grant_create = service_of(grant_create_in_callers_transaction, name="grant_create")


@runs_in_callers_transaction
def grant_void_in_callers_transaction(
    *,
    attribution_id: str,
    grant_id: int | str,
    voided_at: datetime | None = None,
    now: datetime | None = None,
) -> Grant:
    """Stop a grant from `voided_at` (default now; truncated to the minute; not in the future, not
    before the last reset). It keeps what it paid; voiding twice is a 409.

    Takes the ledger lock (NOWAIT, LockBusy when busy); deletes snapshots at or after the void.
    """
    attribution_id = normalize_attribution_id(attribution_id)
    now = now or timezone.now()
    moment = voided_at or now
    if moment > now:
        raise ValidationFailed("A grant cannot be voided in the future.", code="void_in_future")
    moment = truncate_to_minute(moment)
    try:
        grant_pk = int(grant_id)
    except (TypeError, ValueError):
        raise NotFound(f"There is no grant {grant_id!r}.", code="grant_not_found") from None
    if not Ledger.objects.filter(attribution_id=attribution_id).exists():
        raise NotFound(f"There is no grant {grant_id} on {attribution_id}.", code="grant_not_found")
    ledger = ledger_lock(attribution_id=attribution_id)
    grant = Grant.objects.select_related("feature").filter(ledger=ledger, pk=grant_pk).first()
    if grant is None:
        raise NotFound(f"There is no grant {grant_id} on {attribution_id}.", code="grant_not_found")
    if grant.voided_at is not None:
        raise Conflict(
            f"Grant {grant.pk} was already voided at {format_rfc3339(grant.voided_at)}.",
            code="grant_already_voided",
        )
    ensure_not_before_last_reset(ledger=ledger, moment=moment, what="The void")
    snapshots_invalidate(ledger=ledger, effective_at=moment)
    before = grant_audit_state(grant)
    grant.voided_at = moment
    grant.save(update_fields=["voided_at", "updated_at"])
    audit_record(
        action="grant.voided",
        object_type="grant",
        object_id=grant.pk,
        attribution_id=attribution_id,
        before=before,
        after=grant_audit_state(grant),
    )
    return grant


grant_void = service_of(grant_void_in_callers_transaction, name="grant_void")
