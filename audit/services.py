"""Recording audit events, in the transaction of the change they describe."""

import datetime as dt
import uuid
from decimal import Decimal

from django.utils import timezone

from audit.models import AuditEvent
from core.context import Actor, current_actor, current_request_id
from core.services_tx import runs_in_callers_transaction, writes_nothing
from core.timeutils import format_rfc3339

# Key material never goes into the trail, whatever a caller passes.
SECRET_KEYS = frozenset({"key", "raw_key", "key_hash", "token", "secret", "password", "client_secret"})
REDACTED = "[redacted]"


@writes_nothing
def audit_value(value):
    """JSON for before/after: decimals as strings (never floats), times as RFC 3339, no secrets."""
    if isinstance(value, dict):
        clean = {}
        for key, inner in value.items():
            if str(key).lower() in SECRET_KEYS and inner != REDACTED:
                raise ValueError(f"{key!r} looks like a secret and is never written to the audit trail.")
            clean[str(key)] = audit_value(inner)
        return clean
    if isinstance(value, list | tuple):
        return [audit_value(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        raise TypeError("A float in an audit value would lose money precision; pass a Decimal or a string.")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return format_rfc3339(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"Cannot record a {type(value).__name__} in an audit event.")


@writes_nothing
def free_form(value):
    """Caller-supplied JSON (grant metadata, dispute reasons) for before/after: secret-looking keys
    are redacted and floats kept as their text, so nobody's input can make a change fail."""
    if isinstance(value, dict):
        return {str(k): REDACTED if str(k).lower() in SECRET_KEYS else free_form(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [free_form(v) for v in value]
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bool | int | str | Decimal) or value is None:
        return value
    return str(value)


@runs_in_callers_transaction
def audit_record(
    *,
    action: str,
    object_type: str,
    object_id: object,
    attribution_id: str = "",
    before: dict | None = None,
    after: dict | None = None,
    actor: Actor | None = None,
) -> AuditEvent:
    """One audit event for a change, written in the change's own transaction: call it inside
    the service's atomic block, after the change, so both commit or neither does.

    The actor (and source) is the current one from core.context unless given.
    """
    actor = actor or current_actor()
    return AuditEvent.objects.create(
        occurred_at=timezone.now(),
        action=action,
        object_type=object_type,
        object_id=str(object_id)[:64],
        attribution_id=attribution_id or "",
        actor_kind=actor.kind,
        actor_id=actor.id[:64],
        actor_label=actor.label[:200],
        source=actor.source,
        request_id=(current_request_id() or "")[:100],
        before=audit_value(before) if before is not None else None,
        after=audit_value(after) if after is not None else None,
    )
