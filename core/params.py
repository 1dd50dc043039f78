"""Input read the same way by every API, form and service: a value that is present but bad is a 400.

Query parameters (times, booleans) and the one parser of credit amounts that services use for
input which did not come through a serializer's CreditsField (admin forms, the shell, jobs).
"""

from datetime import datetime
from decimal import Decimal

from core.errors import ValidationFailed
from core.money import to_credits
from core.timeutils import parse_rfc3339

_TRUE = ("1", "true", "yes")
_FALSE = ("0", "false", "no")


def parse_bool_param(query_params, name: str, *, default: bool = False) -> bool:
    """true/false (1/0, yes/no; any case); absent is `default`; anything else is a 400."""
    if name not in query_params:
        return default
    value = query_params.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValidationFailed(f"{name} must be true or false (got {query_params.get(name)!r}).", code="invalid")


def parse_time_param(query_params, name: str) -> datetime | None:
    """An RFC 3339 time, or None when absent; present but empty or malformed is a 400."""
    if name not in query_params:
        return None
    return parse_rfc3339(query_params.get(name), field=name)


def parse_credits(value: object, *, field: str = "credits") -> Decimal:
    """Credits from input: a decimal string, an int or a Decimal with at most 6 places.

    A float, a non-number or a seventh place is a 400 `invalid_credits` naming the field; rules
    about the value (not zero, not negative) are the caller's, with the caller's own code.
    """
    try:
        return to_credits(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"{field}: {exc}", code="invalid_credits") from None
