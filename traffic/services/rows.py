"""Bulk writes of the traffic tables: COPY into a staging table, then one statement per table.

On PostgreSQL each write of a page COPYs its rows into a temporary staging table (emptied
first; rows vanish at commit anyway) and moves them with one `INSERT … SELECT`, `INSERT … ON
CONFLICT` or `UPDATE … FROM`: no SQL text or parameter list grows with the page. Other
databases (the SQLite demo) take the ORM's bulk operations, with the same meaning.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import orjson
from django.db import connection
from django.utils import timezone

from core.services_tx import runs_in_callers_transaction
from traffic.models import TrafficCounterState, TrafficMinute, TrafficQuotaState
from usage.models import UsageEntry

BATCH = 2000


@dataclass(slots=True)
class FactRow:
    minute: datetime
    node_id: str
    account_uuid: str
    region: str
    line: str
    attribution_id: str
    source_id: str
    uplink_bytes: int
    downlink_bytes: int
    total_bytes: int
    included_bytes: int
    chargeable_bytes: int
    credits: Decimal
    price_per_byte: Decimal
    multiplier: Decimal
    pricing_rule_version: str
    inbound_tags: str
    entry_key: str


@dataclass(slots=True)
class EntryRow:
    id: uuid.UUID
    object_id: str
    attribution_id: str
    description: str
    credits: Decimal
    effective_time: datetime
    metadata: str  # JSON text


@dataclass(slots=True)
class StateRow:
    node_id: str
    account_uuid: str
    source_id: str
    last_uplink_total: int
    last_downlink_total: int
    last_seen_at: datetime
    open_minute: datetime | None
    open_uplink_bytes: int
    open_downlink_bytes: int
    open_inbound_tags: str
    sealed_through: datetime | None
    reset_count: int
    source_revision: str


@dataclass(slots=True)
class QuotaRow:
    account_id: int
    remaining_included_bytes: int
    uplink_bytes: int
    downlink_bytes: int
    total_bytes: int
    chargeable_bytes: int
    credits: Decimal
    last_rated_minute: datetime | None


FACT_COLUMNS = [
    ("minute", "timestamptz"),
    ("node_id", "text"),
    ("account_uuid", "uuid"),
    ("region", "text"),
    ("line", "text"),
    ("attribution_id", "text"),
    ("source_id", "text"),
    ("uplink_bytes", "bigint"),
    ("downlink_bytes", "bigint"),
    ("total_bytes", "bigint"),
    ("included_bytes", "bigint"),
    ("chargeable_bytes", "bigint"),
    ("credits", "numeric"),
    ("price_per_byte", "numeric"),
    ("multiplier", "numeric"),
    ("pricing_rule_version", "text"),
    ("inbound_tags", "text"),
    ("entry_key", "text"),
]
STATE_COLUMNS = [
    ("node_id", "text"),
    ("account_uuid", "uuid"),
    ("source_id", "text"),
    ("last_uplink_total", "bigint"),
    ("last_downlink_total", "bigint"),
    ("last_seen_at", "timestamptz"),
    ("open_minute", "timestamptz"),
    ("open_uplink_bytes", "bigint"),
    ("open_downlink_bytes", "bigint"),
    ("open_inbound_tags", "text"),
    ("sealed_through", "timestamptz"),
    ("reset_count", "integer"),
    ("source_revision", "text"),
]
QUOTA_COLUMNS = [
    ("account_id", "bigint"),
    ("remaining_included_bytes", "bigint"),
    ("uplink_bytes", "bigint"),
    ("downlink_bytes", "bigint"),
    ("total_bytes", "bigint"),
    ("chargeable_bytes", "bigint"),
    ("credits", "numeric"),
    ("last_rated_minute", "timestamptz"),
]


ENTRY_COLUMNS = [
    ("id", "uuid"),
    ("object_id", "text"),
    ("attribution_id", "text"),
    ("description", "text"),
    ("credits", "numeric"),
    ("effective_time", "timestamptz"),
    ("metadata", "jsonb"),
]


def _names(columns: list[tuple[str, str]]) -> str:
    return ", ".join(name for name, _ in columns)


def _stage(cursor, table: str, columns: list[tuple[str, str]], rows) -> None:
    """Load `rows` (tuples in column order) into an empty temporary table `table`."""
    definition = ", ".join(f"{name} {kind}" for name, kind in columns)
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({definition}) ON COMMIT DELETE ROWS")
    cursor.execute(f"TRUNCATE {table}")
    with cursor.copy(f"COPY {table} ({_names(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _tuples(rows: list, columns: list[tuple[str, str]]):
    names = [name for name, _ in columns]
    return ([getattr(row, name) for name in names] for row in rows)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


@runs_in_callers_transaction
def insert_facts(rows: list[FactRow]) -> None:
    """Insert minute facts; a fact already stored raises IntegrityError (the caller checked)."""
    if not rows:
        return
    if not _postgres():
        TrafficMinute.objects.bulk_create(
            [TrafficMinute(**{name: getattr(r, name) for name, _ in FACT_COLUMNS}) for r in rows],
            batch_size=BATCH,
        )
        return
    with connection.cursor() as cursor:
        _stage(cursor, "usage_traffic_stage_facts_v1", FACT_COLUMNS, _tuples(rows, FACT_COLUMNS))
        cursor.execute(
            f"INSERT INTO usage_trafficminute ({_names(FACT_COLUMNS)}, created_at)"  # noqa: S608 (fixed names)
            f" SELECT {_names(FACT_COLUMNS)}, now() FROM usage_traffic_stage_facts_v1"
        )


@runs_in_callers_transaction
def insert_entries(rows: list[EntryRow]) -> None:
    """Final `traffic` usage entries; an object id stored before is left as it is."""
    if not rows:
        return
    if not _postgres():
        UsageEntry.objects.bulk_create(
            [
                UsageEntry(
                    id=r.id,
                    object_id=r.object_id,
                    attribution_id=r.attribution_id,
                    description=r.description,
                    credits=r.credits,
                    effective_time=r.effective_time,
                    kind=UsageEntry.Kind.TRAFFIC,
                    draft=False,
                    metadata=orjson.loads(r.metadata),
                )
                for r in rows
            ],
            batch_size=BATCH,
            ignore_conflicts=True,
        )
        return
    staged = (
        [
            r.id,
            r.object_id,
            r.attribution_id,
            r.description,
            r.credits,
            r.effective_time,
            r.metadata,
        ]
        for r in rows
    )
    with connection.cursor() as cursor:
        _stage(cursor, "usage_traffic_stage_entries_v1", ENTRY_COLUMNS, staged)
        cursor.execute(
            f"INSERT INTO usage_usageentry ({_names(ENTRY_COLUMNS)}, kind, draft, created_at, updated_at)"  # noqa: S608
            f" SELECT {_names(ENTRY_COLUMNS)}, 'traffic', false, now(), now()"
            " FROM usage_traffic_stage_entries_v1"
            " ON CONFLICT (object_id) DO NOTHING"
        )


@runs_in_callers_transaction
def upsert_counter_states(rows: list[StateRow]) -> None:
    if not rows:
        return
    if not _postgres():
        TrafficCounterState.objects.bulk_create(
            [TrafficCounterState(**{name: getattr(r, name) for name, _ in STATE_COLUMNS}) for r in rows],
            batch_size=BATCH,
            update_conflicts=True,
            unique_fields=["node_id", "account_uuid"],
            update_fields=[name for name, _ in STATE_COLUMNS[2:]] + ["updated_at"],
        )
        return
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name, _ in STATE_COLUMNS[2:])
    with connection.cursor() as cursor:
        _stage(cursor, "usage_traffic_stage_states_v1", STATE_COLUMNS, _tuples(rows, STATE_COLUMNS))
        cursor.execute(
            f"INSERT INTO usage_trafficcounterstate ({_names(STATE_COLUMNS)}, created_at, updated_at)"  # noqa: S608
            f" SELECT {_names(STATE_COLUMNS)}, now(), now() FROM usage_traffic_stage_states_v1"
            " ORDER BY node_id, account_uuid"
            f" ON CONFLICT (node_id, account_uuid) DO UPDATE SET {updates}, updated_at = now()"
        )


@runs_in_callers_transaction
def update_quotas(rows: list[QuotaRow]) -> None:
    if not rows:
        return
    if not _postgres():
        now = timezone.now()
        for r in rows:
            TrafficQuotaState.objects.filter(account_id=r.account_id).update(
                **{name: getattr(r, name) for name, _ in QUOTA_COLUMNS[1:]}, updated_at=now
            )
        return
    sets = ", ".join(f"{name} = v.{name}" for name, _ in QUOTA_COLUMNS[1:])
    with connection.cursor() as cursor:
        _stage(cursor, "usage_traffic_stage_quotas_v1", QUOTA_COLUMNS, _tuples(rows, QUOTA_COLUMNS))
        cursor.execute(
            f"UPDATE usage_trafficquotastate AS q SET {sets}, updated_at = now()"  # noqa: S608 (fixed names)
            " FROM usage_traffic_stage_quotas_v1 AS v WHERE q.account_id = v.account_id"
        )


@runs_in_callers_transaction
def lock_quotas(account_ids: list[int]) -> dict[int, QuotaRow]:
    """The quota states of these accounts, row-locked in account id order."""
    fields = [name for name, _ in QUOTA_COLUMNS]
    found = {}
    for start in range(0, len(account_ids), 5000):
        chunk = account_ids[start : start + 5000]
        rows = (
            TrafficQuotaState.objects.select_for_update()
            .filter(account_id__in=chunk)
            .order_by("account_id")
            .values_list(*fields)
        )
        for values in rows:
            found[values[0]] = QuotaRow(*values)
    return found
