"""Meter event ingestion: one transaction per batch, facts and per-minute rollups together.

PostgreSQL path: COPY the rows into a temporary staging table, then one statement inserts the
facts (`ON CONFLICT DO NOTHING RETURNING`) and folds exactly the inserted rows into the
rollups. A key seen before — in any earlier batch, forever — inserts nothing and counts
nothing. SQLite (the demo) takes a row-by-row path with the same semantics.

Lock order: a batch takes row locks in two sets, always in the same order — first the facts'
unique-index entries, by (attribution_id, key), then the rollup rows, by (attribution_id,
meter_id, minute) (the rollups need every inserted fact first: they are grouped from them).
Two batches sharing keys therefore wait for each other in one direction only and cannot
deadlock, whatever order their clients sent the events in. The transaction writes nothing
else but, last, for backdated events, what `usage.hooks.usage_backdated` deletes (credits'
stale balance snapshots). Should PostgreSQL still report a deadlock or a serialization failure, the batch is
retried a few times with a short random pause; one that still conflicts is `IngestConflict`
(409 `ingest_conflict`: nothing stored, retry the batch), while a database that is really gone
stays a 503.
"""

import logging
import random
import time
from datetime import timedelta

from django.conf import settings
from django.db import OperationalError, connection
from django.utils import timezone

from core.errors import Conflict
from core.metrics import INGESTED_EVENTS
from core.services_tx import durable_transaction, service_opening_its_transaction, writes_nothing
from usage import hooks
from usage.event_validation import EventResult, EventRow, Limits, validate_batch
from usage.models import Meter

logger = logging.getLogger(__name__)

STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS usage_ingest_stage (
    attribution_id text, key text, meter_id bigint, occurred_at timestamptz,
    amount bigint, instance_id text, metadata jsonb
) ON COMMIT DELETE ROWS
"""
STAGE_COPY = (
    "COPY usage_ingest_stage (attribution_id, key, meter_id, occurred_at, amount, instance_id, metadata)"
    " FROM STDIN"
)
INSERT_FROM_STAGE = """
WITH inserted AS (
    INSERT INTO usage_meterevent
        (attribution_id, key, meter_id, occurred_at, amount, instance_id, metadata, received_at)
    SELECT attribution_id, key, meter_id, occurred_at, amount, instance_id, metadata, now()
    FROM usage_ingest_stage
    ORDER BY attribution_id, key
    ON CONFLICT (attribution_id, key) DO NOTHING
    RETURNING attribution_id, key, meter_id, occurred_at, amount
), rolled AS (
    INSERT INTO usage_meterrollup (attribution_id, meter_id, minute, total, event_count, rated_total)
    SELECT attribution_id, meter_id, date_trunc('minute', occurred_at), SUM(amount), COUNT(*), 0
    FROM inserted
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (attribution_id, meter_id, minute) DO UPDATE
        SET total = usage_meterrollup.total + EXCLUDED.total,
            event_count = usage_meterrollup.event_count + EXCLUDED.event_count
)
SELECT attribution_id, key FROM inserted
"""
DEADLOCK_RETRIES = 3
# SQLSTATEs that mean "another transaction got in the way", not "the database is unwell".
LOCK_CONFLICT_SQLSTATES = {"40P01": "deadlock", "40001": "serialization failure"}
RETRY_PAUSE_SECONDS = 0.05  # up to this much (times the attempt number), at random


class IngestConflict(Conflict):
    """A batch that still conflicted with concurrent writers of the same events after retries."""

    default_code = "ingest_conflict"
    MESSAGE = "Another request is writing the same events; retry this batch — nothing of it was stored."

    def __init__(self):
        super().__init__(self.MESSAGE)


@writes_nothing
def lock_conflict(exc: OperationalError) -> str | None:
    """What kind of lock conflict `exc` is (deadlock, serialization failure), or None."""
    return LOCK_CONFLICT_SQLSTATES.get(getattr(exc.__cause__, "sqlstate", None))


@writes_nothing
def active_meters() -> dict[str, int]:
    return dict(Meter.objects.filter(active=True).values_list("slug", "id"))


@writes_nothing
def ingest_limits() -> Limits:
    return Limits(
        now=timezone.now(),
        max_age=timedelta(days=settings.TALLY_INGEST_MAX_AGE_DAYS),
        max_future=timedelta(seconds=settings.TALLY_INGEST_MAX_FUTURE_SECONDS),
        max_metadata_bytes=settings.TALLY_INGEST_MAX_METADATA_BYTES,
    )


@service_opening_its_transaction
def meter_events_ingest(*, events: list, allowed_attribution: str | None = None) -> list[EventResult]:
    """Validate and store a batch; returns one result per event, in request order.

    The whole batch is one durable transaction, retried as a whole on a lock conflict: a
    server error stores nothing, so a client retrying the batch with the same keys gets every
    event counted exactly once.
    """
    results, rows = validate_batch(
        events, meters=active_meters(), limits=ingest_limits(), allowed_attribution=allowed_attribution
    )
    inserted: set[tuple[str, str]] = set()
    if rows:
        for attempt in range(1, DEADLOCK_RETRIES + 1):
            try:
                with durable_transaction():
                    inserted = _store(rows)
                    if inserted:
                        _report_backdated(rows, inserted)
                break
            except OperationalError as exc:
                conflict = lock_conflict(exc)
                if conflict is None:
                    raise  # the database itself failed: a 503 (core.errors.DATABASE_ERRORS)
                if attempt == DEADLOCK_RETRIES:
                    logger.warning("Ingest batch hit a %s %d times; answering 409.", conflict, attempt)
                    raise IngestConflict() from exc
                logger.warning("Ingest batch hit a %s; retrying (%d).", conflict, attempt)
                time.sleep(random.uniform(0, RETRY_PAUSE_SECONDS * attempt))  # noqa: S311 (jitter)
    for result in results:
        if result.status is None:
            result.status = "accepted" if any(k in inserted for k in result.row_keys) else "duplicate"
        INGESTED_EVENTS.labels(result=result.status).inc()
    return results


def _report_backdated(rows: list[EventRow], inserted: set[tuple[str, str]]) -> None:
    """Events older than a snapshot could be: tell whoever derived state from usage (credits),
    in the batch's transaction."""
    cutoff = timezone.now() - timedelta(minutes=hooks.BACKDATED_AFTER_MINUTES)
    oldest: dict[str, object] = {}
    for row in rows:
        if row.occurred_at < cutoff and (row.attribution_id, row.key) in inserted:
            hour = row.occurred_at.astimezone(cutoff.tzinfo).replace(minute=0, second=0, microsecond=0)
            if row.attribution_id not in oldest or hour < oldest[row.attribution_id]:
                oldest[row.attribution_id] = hour
    for attribution_id, since in oldest.items():
        hooks.usage_backdated(attribution_id=attribution_id, since=since)


def _store(rows: list[EventRow]) -> set[tuple[str, str]]:
    if connection.vendor == "postgresql":
        return _store_postgresql(rows)
    return _store_generic(rows)


def _store_postgresql(rows: list[EventRow]) -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(STAGE_DDL)
        # psycopg's COPY is not wrapped by Django: wrap it, so a dropped connection surfaces as
        # django.db.OperationalError (a 503 to the client) and marks the connection for closing.
        with connection.wrap_database_errors, cursor.copy(STAGE_COPY) as copy:
            for row in rows:
                copy.write_row(
                    (
                        row.attribution_id,
                        row.key,
                        row.meter_id,
                        row.occurred_at,
                        row.amount,
                        row.instance_id,
                        row.metadata,
                    )
                )
        cursor.execute(INSERT_FROM_STAGE)
        return {(attribution_id, key) for attribution_id, key in cursor.fetchall()}


def _store_generic(rows: list[EventRow]) -> set[tuple[str, str]]:
    inserted = set()
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        for row in rows:
            cursor.execute(
                "INSERT INTO usage_meterevent (attribution_id, key, meter_id, occurred_at, amount,"
                " instance_id, metadata, received_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (attribution_id, key) DO NOTHING",
                [
                    row.attribution_id,
                    row.key,
                    row.meter_id,
                    adapt(row.occurred_at),
                    row.amount,
                    row.instance_id,
                    row.metadata,
                    adapt(now),
                ],
            )
            if cursor.rowcount != 1:
                continue
            inserted.add((row.attribution_id, row.key))
            minute = row.occurred_at.astimezone(now.tzinfo).replace(second=0, microsecond=0)
            cursor.execute(
                "INSERT INTO usage_meterrollup"
                " (attribution_id, meter_id, minute, total, event_count, rated_total)"
                " VALUES (%s, %s, %s, %s, 1, 0)"
                " ON CONFLICT (attribution_id, meter_id, minute) DO UPDATE"
                " SET total = usage_meterrollup.total + excluded.total,"
                " event_count = usage_meterrollup.event_count + 1",
                [row.attribution_id, row.meter_id, adapt(minute), row.amount],
            )
    return inserted
