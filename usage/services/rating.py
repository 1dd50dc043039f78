"""Rating meter rollups into `meter` usage entries: one per (attribution, meter, hour).

The current hour's entry is a draft, rewritten as events arrive; an hour becomes final once
it ended more than TALLY_METER_FINALIZE_GRACE_MINUTES ago. Events that arrive for a final
hour are not lost: they land in a correction entry (`…:corr:<units>`) for the difference.
"""

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.money import ZERO
from core.services_tx import durable_transaction, job, writes_nothing
from core.timeutils import format_rfc3339
from usage.hooks import usage_rated
from usage.models import Meter, UsageEntry
from usage.selectors.meters import datetime_from_db, meter_rate_table, price_units, sql_trunc
from usage.services.cost_centers import cost_centers_create_missing
from usage.services.workspaces import workspace_instances_rate

CHUNK = 500


@job
def usage_rate(*, now: datetime | None = None) -> dict:
    """The `usage.rate` job: price workspace instances and meter rollups into usage entries,
    a batch per transaction (each job below commits its batches one by one)."""
    now = now or timezone.now()
    return {"workspaces": workspace_instances_rate(now=now), "meters": meter_rollups_rate(now=now)}


@writes_nothing
def meter_entry_key(attribution_id: str, slug: str, hour: datetime) -> str:
    return f"meter:{attribution_id}:{slug}:{format_rfc3339(hour)}"


@job
def meter_rollups_rate(*, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    grace = timedelta(minutes=settings.TALLY_METER_FINALIZE_GRACE_MINUTES)
    counts = {"hours_rated": 0, "entries_created": 0, "entries_updated": 0, "corrections": 0, "finalized": 0}
    slugs = dict(Meter.objects.values_list("id", "slug"))
    table = meter_rate_table()
    hour = sql_trunc("hour", "minute")
    rated: set[str] = set()
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT attribution_id, meter_id, {hour} FROM usage_meterrollup"  # noqa: S608 (fixed SQL expression)
                f" WHERE rated_total < total LIMIT {CHUNK}",
                [],  # always parameterised, so `%%` in the SQLite expression reads as `%`
            )
            groups = [(a, m, datetime_from_db(h)) for a, m, h in cursor.fetchall()]
        if not groups:
            break
        _rate_groups(groups, now=now, grace=grace, slugs=slugs, table=table, counts=counts)
        rated.update(g[0] for g in groups)
    counts["finalized"] += _finalize_closed_hours(now=now, grace=grace)
    usage_rated(attribution_ids=rated)  # committed: auto-recharge may look at them now
    return {"status": "ok", **counts}


@durable_transaction()
def _rate_groups(groups, *, now, grace, slugs, table, counts) -> None:
    # An attribution's first usage entry creates its cost center, so the cycle close job sees
    # it; created before the rollups are marked rated, so its first cycle starts at their hour.
    cost_centers_create_missing(attribution_ids={g[0] for g in groups}, now=now)
    adapt = connection.ops.adapt_datetimefield_value
    totals: dict[tuple[str, int, datetime], int] = {}
    with connection.cursor() as cursor:
        for attribution_id, meter_id, hour_start in groups:
            hour_end = hour_start + timedelta(hours=1)
            # Mark what we rate; rows stay locked until commit, so an insert racing with us
            # waits and lands in the next run, never in neither.
            cursor.execute(
                "UPDATE usage_meterrollup SET rated_total = total WHERE attribution_id = %s"
                " AND meter_id = %s AND minute >= %s AND minute < %s AND rated_total < total",
                [attribution_id, meter_id, adapt(hour_start), adapt(hour_end)],
            )
            cursor.execute(
                "SELECT COALESCE(SUM(rated_total), 0) FROM usage_meterrollup"
                " WHERE attribution_id = %s AND meter_id = %s AND minute >= %s AND minute < %s",
                [attribution_id, meter_id, adapt(hour_start), adapt(hour_end)],
            )
            totals[(attribution_id, meter_id, hour_start)] = int(cursor.fetchone()[0])
    keys = {g: meter_entry_key(g[0], slugs[g[1]], g[2]) for g in totals}
    existing = {
        e.object_id: e
        for e in UsageEntry.objects.filter(object_id__in=keys.values()).only(
            "id", "object_id", "credits", "draft"
        )
    }
    for group, units in totals.items():
        attribution_id, meter_id, hour_start = group
        key = keys[group]
        credits = price_units(table, meter_id, hour_start, units)
        closed = hour_start + timedelta(hours=1) + grace <= now
        description = f"{slugs[meter_id]}: {units} units, hour from {format_rfc3339(hour_start)}"
        metadata = {"meter": slugs[meter_id], "units": units, "hour": format_rfc3339(hour_start)}
        entry = existing.get(key)
        counts["hours_rated"] += 1
        if entry is None:
            UsageEntry.objects.create(
                object_id=key,
                attribution_id=attribution_id,
                kind=UsageEntry.Kind.METER,
                credits=credits,
                effective_time=hour_start,
                draft=not closed,
                description=description,
                metadata=metadata,
            )
            counts["entries_created"] += 1
        elif entry.draft:
            UsageEntry.objects.filter(pk=entry.pk, draft=True).update(
                credits=credits, draft=not closed, description=description, metadata=metadata, updated_at=now
            )
            counts["entries_updated"] += 1
        else:
            already = _rated_credits(key)
            difference = credits - already
            if difference != ZERO:
                UsageEntry.objects.get_or_create(
                    object_id=f"{key}:corr:{units}",
                    defaults={
                        "attribution_id": attribution_id,
                        "kind": UsageEntry.Kind.METER,
                        "credits": difference,
                        "effective_time": hour_start,
                        "draft": False,
                        "description": f"Late events: {description}",
                        "metadata": {**metadata, "correction_of": key},
                    },
                )
                counts["corrections"] += 1


def _rated_credits(key: str) -> Decimal:
    rows = UsageEntry.objects.filter(object_id=key).values_list("credits", flat=True)
    corrections = UsageEntry.objects.filter(object_id__startswith=f"{key}:corr:").values_list(
        "credits", flat=True
    )
    return sum(rows, ZERO) + sum(corrections, ZERO)


def _finalize_closed_hours(*, now: datetime, grace: timedelta) -> int:
    """Drafts of hours that closed (plus grace) with no new events become final."""
    cutoff = now - timedelta(hours=1) - grace
    return UsageEntry.objects.filter(
        kind=UsageEntry.Kind.METER, draft=True, effective_time__lte=cutoff
    ).update(draft=False, updated_at=now)
