"""Reads of meter facts: rates, rollups, and the not-yet-rated part of a balance.

Every sum happens in the database, grouped per (meter, hour) at most.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Sum

from core.errors import NotFound, ValidationFailed
from core.money import ZERO, quantize_credits
from usage.models import Meter, MeterRate, MeterRollup

RateTable = dict[int, list[tuple[datetime, Decimal]]]


def meter_rate_table() -> RateTable:
    """meter id → [(effective_from, credits per unit)], newest first."""
    table: RateTable = defaultdict(list)
    for meter_id, start, rate in MeterRate.objects.order_by("meter_id", "-effective_from").values_list(
        "meter_id", "effective_from", "credits_per_unit"
    ):
        table[meter_id].append((start, rate))
    return table


def rate_at(table: RateTable, meter_id: int, moment: datetime) -> Decimal:
    for start, rate in table.get(meter_id, ()):
        if start <= moment:
            return rate
    return ZERO  # no rate yet: the meter is counted but costs nothing


def price_units(table: RateTable, meter_id: int, hour: datetime, units: int) -> Decimal:
    """Credits for `units` of a meter in the hour starting at `hour`, rounded once."""
    return quantize_credits(rate_at(table, meter_id, hour) * Decimal(units))


def sql_trunc(unit: str, column: str) -> str:
    """SQL truncating the time `column` to its `unit` ("minute", "hour" or "day"), for PostgreSQL
    and the embedded SQLite; read the result back with `datetime_from_db`."""
    if connection.vendor == "postgresql":
        return f"date_trunc('{unit}', {column})"
    # Percent signs doubled: Django formats parameterised SQL (and logs it under DEBUG).
    formats = {
        "minute": "%%Y-%%m-%%d %%H:%%M:00",
        "hour": "%%Y-%%m-%%d %%H:00:00",
        "day": "%%Y-%%m-%%d 00:00:00",
    }
    return f"strftime('{formats[unit]}', {column})"


def datetime_from_db(value) -> datetime:
    """A `sql_trunc` result as a datetime (SQLite returns it as text)."""
    if isinstance(value, datetime):
        return value
    from django.utils.dateparse import parse_datetime
    from django.utils.timezone import make_aware

    return make_aware(parse_datetime(value), timezone=None) if value else value


def pending_meter_credits(
    *, attribution_id: str, start: datetime | None = None, end: datetime | None = None
) -> Decimal:
    """Credits of rollups not yet rated into usage entries (the part a balance adds on top),
    optionally only for hours starting in [start, end)."""
    hour = sql_trunc("hour", "minute")
    sql = (
        f"SELECT meter_id, {hour}, SUM(total - rated_total) FROM usage_meterrollup"  # noqa: S608 (fixed SQL expression)
        " WHERE attribution_id = %s AND rated_total < total"
    )
    params: list = [attribution_id]
    if start is not None:
        sql += f" AND {hour} >= %s"
        params.append(connection.ops.adapt_datetimefield_value(start))
    if end is not None:
        sql += f" AND {hour} < %s"
        params.append(connection.ops.adapt_datetimefield_value(end))
    sql += " GROUP BY 1, 2"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        groups = cursor.fetchall()
    if not groups:
        return ZERO
    table = meter_rate_table()
    return sum((price_units(table, m, datetime_from_db(h), int(u)) for m, h, u in groups), ZERO)


def meter_get(*, slug: str) -> Meter:
    meter = Meter.objects.filter(slug=slug).first()
    if meter is None:
        raise NotFound(f"No meter {slug!r}.", code="unknown_meter")
    return meter


def meter_units_used(*, attribution_id: str, meter_slug: str, start: datetime, end: datetime) -> Decimal:
    """Units of a meter recorded for an attribution with minutes in [start, end)."""
    meter_id = Meter.objects.filter(slug=meter_slug).values_list("id", flat=True).first()
    if meter_id is None:
        return ZERO
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(total), 0) FROM usage_meterrollup"
            " WHERE attribution_id = %s AND meter_id = %s AND minute >= %s AND minute < %s",
            [attribution_id, meter_id, adapt(start), adapt(end)],
        )
        return Decimal(int(cursor.fetchone()[0]))


def meter_unit_names(*, meter_slugs: Iterable[str]) -> dict[str, str]:
    """slug → the meter's unit name (`seconds`, `samples`, ...) for the meters that exist and
    name a unit; a slug missing from the answer has no meter or a blank unit."""
    slugs = sorted(set(meter_slugs))
    if not slugs:
        return {}
    return {
        slug: unit
        for slug, unit in Meter.objects.filter(slug__in=slugs).values_list("slug", "unit")
        if unit.strip()
    }


def meter_units_used_by_slug(
    *, attribution_id: str, meter_slugs: Iterable[str], start: datetime, end: datetime
) -> dict[str, Decimal]:
    """Units of each meter recorded for an attribution with minutes in [start, end), in one
    grouped SUM; only meters with usage appear."""
    slugs = sorted(set(meter_slugs))
    if not slugs or end <= start:
        return {}
    rows = (
        MeterRollup.objects.filter(
            attribution_id=attribution_id, meter__slug__in=slugs, minute__gte=start, minute__lt=end
        )
        .values_list("meter__slug")
        .annotate(used=Sum("total"))
        .order_by()
    )
    return {slug: Decimal(int(total)) for slug, total in rows if total}


WINDOWS = {"MINUTE": "minute", "HOUR": "hour", "DAY": "day"}
MAX_WINDOWS = 10_000


def meter_usage_windows(
    *, attribution_id: str, meter: Meter, start: datetime, end: datetime, window: str
) -> list[tuple[datetime, int]]:
    """(window start, units) for each window in [start, end) with usage; empty windows are left out."""
    unit = WINDOWS.get(window)
    if unit is None:
        raise ValidationFailed("window must be MINUTE, HOUR or DAY.", code="invalid_window")
    if start >= end:
        raise ValidationFailed("from must be before to.", code="invalid_range")
    seconds = {"minute": 60, "hour": 3600, "day": 86400}[unit]
    if (end - start).total_seconds() / seconds > MAX_WINDOWS:
        raise ValidationFailed(
            f"That range holds more than {MAX_WINDOWS} {unit} windows: use a larger window.",
            code="range_too_long",
        )
    bucket = sql_trunc(unit, "minute")
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {bucket} AS bucket, SUM(total) FROM usage_meterrollup"  # noqa: S608 (fixed SQL expression)
            " WHERE attribution_id = %s AND meter_id = %s AND minute >= %s AND minute < %s"
            " GROUP BY 1 ORDER BY 1",
            [attribution_id, meter.id, adapt(start), adapt(end)],
        )
        return [(datetime_from_db(b), int(total)) for b, total in cursor.fetchall()]
