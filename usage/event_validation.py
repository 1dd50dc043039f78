"""Meter event validation: the fast path (plain Python, no ORM, no serializer per event).

A batch is checked event by event; a bad event is rejected with a reason and the rest go on.
Each valid event becomes one row per non-zero amount, keyed `<unique_key>:<meter slug>`.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson

MAX_KEY_LENGTH = 255
MAX_INSTANCE_ID_LENGTH = 255


@dataclass(slots=True)
class EventRow:
    attribution_id: str
    key: str
    meter_id: int
    occurred_at: datetime
    amount: int
    instance_id: str
    metadata: str | None  # JSON text, or None when the event has none


@dataclass(slots=True)
class EventResult:
    unique_key: object
    status: str | None = None  # accepted | duplicate | rejected
    reason: str | None = None
    row_keys: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        # The answer names the event by its key; a key that is not a string (the reason says so)
        # is answered as null, as the schema states, never echoed back as whatever was sent.
        key = self.unique_key if isinstance(self.unique_key, str) else None
        return {"unique_key": key, "status": self.status, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Limits:
    now: datetime
    max_age: timedelta
    max_future: timedelta
    max_metadata_bytes: int

    @property
    def earliest(self) -> datetime:
        return self.now - self.max_age

    @property
    def latest(self) -> datetime:
        return self.now + self.max_future


class _Reject(Exception):
    pass


def _attribution(value: object, cache: dict[object, str | Exception]) -> str:
    try:
        cached = cache[value]
    except (KeyError, TypeError):
        cached = _parse_attribution(value)
        if isinstance(value, str):
            cache[value] = cached
    if isinstance(cached, Exception):
        raise cached
    return cached


def _parse_attribution(value: object) -> str | Exception:
    if not isinstance(value, str):
        return _Reject("attribution_id must be team:<uuid> or user:<uuid>")
    kind, sep, raw = value.partition(":")
    if not sep or kind not in ("team", "user"):
        return _Reject("attribution_id must be team:<uuid> or user:<uuid>")
    try:
        return f"{kind}:{uuid.UUID(raw)}"
    except ValueError:
        return _Reject("attribution_id must end in a valid UUID")


def _time(value: object, limits: Limits) -> datetime:
    if not isinstance(value, str):
        raise _Reject("occurred_at must be an RFC 3339 time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _Reject("occurred_at must be an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise _Reject("occurred_at needs a time zone (Z or an offset)")
    if moment < limits.earliest:
        raise _Reject("occurred_at is more than 35 days in the past")
    if moment > limits.latest:
        raise _Reject("occurred_at is more than 5 minutes in the future")
    return moment


def validate_event(
    raw: object,
    *,
    meters: dict[str, int],
    limits: Limits,
    allowed_attribution: str | None,
    attribution_cache: dict,
) -> tuple[EventResult, list[EventRow]]:
    """One event → its result (status None when valid) and its rows."""
    if not isinstance(raw, dict):
        return EventResult(unique_key=None, status="rejected", reason="each event must be a JSON object"), []
    unique_key = raw.get("unique_key")
    result = EventResult(unique_key=unique_key)
    try:
        if not isinstance(unique_key, str) or not unique_key.strip():
            raise _Reject("unique_key must be a non-blank string")
        if len(unique_key) > MAX_KEY_LENGTH:
            raise _Reject(f"unique_key is longer than {MAX_KEY_LENGTH} characters")
        if "\x00" in unique_key:
            raise _Reject("unique_key must not contain NUL characters")
        attribution_id = _attribution(raw.get("attribution_id"), attribution_cache)
        if allowed_attribution is not None and attribution_id != allowed_attribution:
            raise _Reject("this API key may only send events for its own attribution")
        occurred_at = _time(raw.get("occurred_at"), limits)
        instance_id = raw.get("instance_id")
        if instance_id is None:
            instance_id = ""
        elif (
            not isinstance(instance_id, str)
            or len(instance_id) > MAX_INSTANCE_ID_LENGTH
            or "\x00" in instance_id
        ):
            raise _Reject(f"instance_id must be a string of at most {MAX_INSTANCE_ID_LENGTH} characters")
        metadata = raw.get("metadata")
        metadata_json = None
        if metadata not in (None, {}):
            if not isinstance(metadata, dict):
                raise _Reject("metadata must be a JSON object")
            metadata_json = orjson.dumps(metadata).decode()
            if "\\u0000" in metadata_json:
                raise _Reject("metadata must not contain NUL characters")
            if len(metadata_json.encode()) > limits.max_metadata_bytes:
                raise _Reject(f"metadata is larger than {limits.max_metadata_bytes} bytes")
        amounts = raw.get("amounts")
        if not isinstance(amounts, dict) or not amounts:
            raise _Reject("amounts must be a non-empty object of meter slug to integer")
        rows = []
        for slug, amount in amounts.items():
            meter_id = meters.get(slug)
            if meter_id is None:
                raise _Reject(f"unknown amount type {slug!r}")
            if type(amount) is not int:  # bool, float, str and Decimal are all refused
                raise _Reject(f"amount of {slug} must be a whole number")
            if amount < 0:
                raise _Reject(f"amount of {slug} must not be negative")
            if amount >= 2**63:
                raise _Reject(f"amount of {slug} is too large")
            if amount == 0:
                continue
            rows.append(
                EventRow(
                    attribution_id=attribution_id,
                    key=f"{unique_key}:{slug}",
                    meter_id=meter_id,
                    occurred_at=occurred_at,
                    amount=amount,
                    instance_id=instance_id,
                    metadata=metadata_json,
                )
            )
    except _Reject as exc:
        result.status, result.reason = "rejected", str(exc)
        return result, []
    result.row_keys = [(row.attribution_id, row.key) for row in rows]
    return result, rows


def validate_batch(
    events: list, *, meters: dict[str, int], limits: Limits, allowed_attribution: str | None
) -> tuple[list[EventResult], list[EventRow]]:
    """Validate a batch; a key repeated inside the batch is a duplicate of its first copy."""
    results: list[EventResult] = []
    rows: list[EventRow] = []
    seen: set[tuple[str, str]] = set()
    cache: dict = {}
    for raw in events:
        result, event_rows = validate_event(
            raw,
            meters=meters,
            limits=limits,
            allowed_attribution=allowed_attribution,
            attribution_cache=cache,
        )
        if result.status is None and event_rows:
            fresh = [row for row in event_rows if (row.attribution_id, row.key) not in seen]
            if not fresh:
                result.status = "duplicate"
            for row in fresh:
                seen.add((row.attribution_id, row.key))
            rows.extend(fresh)
        elif result.status is None:
            result.status = "accepted"  # only zero amounts: nothing to store, nothing to retry
        results.append(result)
    return results, rows
