import uuid
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from audit.services import audit_record
from core.attribution import normalize_attribution_id
from core.errors import ValidationFailed
from core.money import format_credits
from core.params import parse_credits
from core.services_tx import runs_in_callers_transaction, service, service_of
from usage.hooks import ensure_registered_payer
from usage.models import UsageEntry
from usage.services.cost_centers import cost_centers_create_missing


@service
def credit_note_add(
    *,
    attribution_id: str,
    credits: Decimal | int | str,
    description: str,
    user_id: str | None = None,
    now: datetime | None = None,
) -> UsageEntry:
    """AddUsageCreditNote: positive credits lower the balance (the entry is their negative).
    Creates the attribution's cost center if it has none; UnknownAttribution (400) when the
    attribution names no registered payer."""
    attribution_id = ensure_registered_payer(attribution_id)
    amount = parse_credits(credits)
    if amount == 0:
        raise ValidationFailed("credits must not be zero.", code="invalid_credits")
    if not isinstance(description, str) or not description.strip():
        raise ValidationFailed("A credit note needs a description.", code="blank_description")
    metadata = {}
    if user_id not in (None, ""):
        try:
            metadata["user_id"] = str(uuid.UUID(str(user_id)))
        except ValueError:
            raise ValidationFailed(f"user_id {user_id!r} is not a UUID.", code="invalid_user_id") from None
    entry = UsageEntry(
        attribution_id=attribution_id,
        description=description.strip()[:500],
        credits=-amount,
        effective_time=now or timezone.now(),
        kind=UsageEntry.Kind.CREDIT_NOTE,
        draft=False,
        metadata=metadata,
    )
    entry.full_clean()
    cost_centers_create_missing(attribution_ids=[attribution_id], now=timezone.now())
    entry.save()
    audit_record(
        action="credit_note.added",
        object_type="usage_entry",
        object_id=entry.pk,
        attribution_id=attribution_id,
        after={
            "credits": format_credits(amount),
            "entry_credits": format_credits(entry.credits),
            "description": entry.description,
            "effective_time": entry.effective_time,
            "user_id": metadata.get("user_id"),
        },
    )
    return entry


@runs_in_callers_transaction
def ledger_entry_write_once_in_callers_transaction(
    *,
    attribution_id: str,
    object_id: str,
    kind: str,
    credits: Decimal,
    effective_time: datetime,
    description: str,
    metadata: dict | None = None,
) -> tuple[UsageEntry, bool]:
    """A final entry keyed by a deterministic object id, written at most once, ever.

    For entries that come from outside (a Stripe invoice, a cycle's grant coverage): the
    same call again returns the existing entry and False. Creates the attribution's cost
    center if it has none. `get_or_create` is race-safe on the unique object id by itself.
    """
    if kind not in (UsageEntry.Kind.INVOICE, UsageEntry.Kind.GRANT_COVERAGE, UsageEntry.Kind.CREDIT_NOTE):
        raise ValueError(f"{kind} entries are not written this way.")
    attribution_id = normalize_attribution_id(attribution_id)
    cost_centers_create_missing(attribution_ids=[attribution_id], now=timezone.now())
    entry, created = UsageEntry.objects.get_or_create(
        object_id=object_id,
        defaults={
            "attribution_id": attribution_id,
            "kind": kind,
            "credits": credits,
            "effective_time": effective_time,
            "description": description[:500],
            "metadata": metadata or {},
            "draft": False,
        },
    )
    if created:
        audit_record(
            action="usage_entry.written",
            object_type="usage_entry",
            object_id=entry.pk,
            attribution_id=entry.attribution_id,
            after={
                "kind": kind,
                "object_id": object_id,
                "credits": format_credits(entry.credits),
                "effective_time": effective_time,
                "description": entry.description,
            },
        )
    return entry, created


ledger_entry_write_once = service_of(
    ledger_entry_write_once_in_callers_transaction, name="ledger_entry_write_once"
)
