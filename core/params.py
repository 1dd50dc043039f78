"""Query parameters read the same way by every API: a value that is present but bad is a 400."""

from datetime import datetime

from core.errors import ValidationFailed
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
