"""Calendar arithmetic and RFC 3339 parsing shared by every app."""

import calendar
from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime

from core.errors import ValidationFailed


def add_months(moment: datetime, months: int) -> datetime:
    """Same day and time `months` calendar months later, clamped to the month's last day."""
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def parse_rfc3339(value: object, *, field: str) -> datetime:
    """An aware datetime in UTC from an RFC 3339 string; anything else is a 400 naming the field."""
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
    return parsed.astimezone(UTC)


def format_rfc3339(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with a Z; microseconds only when present."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")
