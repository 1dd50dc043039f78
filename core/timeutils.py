"""RFC 3339 parsing and formatting shared by every app (month arithmetic: core.months)."""

from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime

from core.errors import ValidationFailed

# Accepted times: far from datetime's own limits, so `to - 300 days` or `+ 1 month` cannot overflow.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
# What the OpenAPI schema adds to `format: date-time` for those bounds (years 1900 to 8999).
TIME_PATTERN = r"^(19[0-9]{2}|[2-8][0-9]{3})-"


def parse_rfc3339(value: object, *, field: str) -> datetime:
    """An aware datetime in UTC from an RFC 3339 string; anything else is a 400 naming the field.

    Times before 1900 or from the year 9000 on are refused too (a 400, not an overflow later)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationFailed(
                f"{field} must be an RFC 3339 time such as 2026-11-23T12:00:00Z (got {value!r}).",
                code="invalid_time",
                details={field: ["invalid time"]},
            )
    else:
        raise ValidationFailed(f"{field} must be an RFC 3339 time.", code="invalid_time")
    if parsed.tzinfo is None:
        raise ValidationFailed(
            f"{field} needs a time zone (Z or an offset), e.g. 2026-11-23T12:00:00Z.", code="invalid_time"
        )
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-23:59 is past datetime.max in UTC
        parsed = None
    if parsed is None or not EARLIEST <= parsed < LATEST:
        raise ValidationFailed(
            f"{field} must be between {format_rfc3339(EARLIEST)} and {format_rfc3339(LATEST)} "
            f"(got {value!r}).",
            code="invalid_time",
            details={field: ["out of range"]},
        )
    return parsed


def format_rfc3339(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with a Z; microseconds only when present."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")
