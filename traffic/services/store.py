"""Applying pulled traffic to the database: one transaction per page (and per seal).

Within a page's transaction, every account on the page moves together: its counter state,
its new minute facts, their usage entries and its quota state commit or roll back as one, so a
crash at any point leaves each account either before or after the page, never in between.

Locks, always in this order: counter states (node, uuid), then quota states (account id).
The job lock keeps runs apart; the row locks make a second writer that slipped past it (a
lock that expired under a stalled process) wait and then see the first one's state, and a
fact written twice aborts the page instead of charging twice (`ConcurrentWrite`).
"""

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import orjson
from django.db import IntegrityError, transaction

from core.money import ZERO
from core.services_tx import (
    durable_transaction,
    runs_in_callers_transaction,
    service_opening_its_transaction,
    writes_nothing,
)
from core.timeutils import format_rfc3339
from traffic import config, hooks
from traffic.client import Source, WindowPage
from traffic.deltas import ClosedMinute, CounterState, observe, seal
from traffic.models import TrafficAccount, TrafficCounterState, TrafficMinute, TrafficQuotaState
from traffic.pricing import Pricing, rate_minute
from traffic.selectors import pricing_of
from traffic.services.rows import (
    EntryRow,
    FactRow,
    QuotaRow,
    StateRow,
    insert_entries,
    insert_facts,
    lock_quotas,
    update_quotas,
    upsert_counter_states,
)
from usage.services import cost_centers_create_missing

ENTRY_NAMESPACE = uuid.UUID("4f0c8a52-7d8b-4c51-9d0e-1c3a7f6b2e90")
BATCH = 2000
WRITE_CHUNK = 10_000
IN_CHUNK = 5000
MAX_TAGS = 500


class ConcurrentWrite(Exception):
    """Another writer stored a minute this page meant to store: the page is rolled back."""


@dataclass
class RunCounters:
    """What a run did. Minutes are counted once each, however many samples fed them."""

    processed_samples: int = 0
    written_minutes: int = 0
    invalid_samples: int = 0
    counter_resets: int = 0
    accounts_created: int = 0
    credits: Decimal = ZERO
    replayed: set[tuple[str, str, datetime]] = field(default_factory=set)

    @property
    def replayed_minutes(self) -> int:
        return len(self.replayed)

    def merge(self, other: "RunCounters") -> None:
        """Add what a committed transaction did (a rolled-back one is never merged)."""
        self.processed_samples += other.processed_samples
        self.written_minutes += other.written_minutes
        self.invalid_samples += other.invalid_samples
        self.counter_resets += other.counter_resets
        self.accounts_created += other.accounts_created
        self.credits += other.credits
        self.replayed |= other.replayed


@dataclass(frozen=True, slots=True)
class AccountView:
    id: int
    account_uuid: str
    attribution_id: str
    pricing: Pricing


@writes_nothing
def entry_key(*, account_uuid: str, node_id: str, minute: datetime, region: str, line: str) -> str:
    """The UsageEntry object id of a rated minute: the same minute always gets the same key."""
    key = f"traffic:{account_uuid}:{node_id}:{format_rfc3339(minute)}:{region}:{line}"
    if len(key) <= 255:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"traffic:{account_uuid}:{digest}"


def _chunks(values: list, size: int = IN_CHUNK) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


_ACCOUNT_FIELDS = (
    "id",
    "account_uuid",
    "attribution_id",
    "included_quota_bytes",
    "price_per_byte",
    "region_multiplier",
    "line_multiplier",
    "pricing_rule_version",
)


def _view(row: dict) -> AccountView:
    return AccountView(
        id=row["id"],
        account_uuid=str(row["account_uuid"]),
        attribution_id=row["attribution_id"],
        pricing=pricing_of(row),
    )


@runs_in_callers_transaction
def ensure_accounts(
    emails: dict[str, str], *, now: datetime, counters: RunCounters
) -> dict[str, AccountView]:
    """Accounts by uuid; those Tally has not seen are created as `user:<uuid>` with their quota
    state and cost center, and `traffic.hooks.traffic_account_created` runs for each in this
    transaction."""
    views: dict[str, AccountView] = {}
    for chunk in _chunks(list(emails)):
        for row in TrafficAccount.objects.filter(account_uuid__in=chunk).values(*_ACCOUNT_FIELDS, "email"):
            account_uuid = str(row["account_uuid"])
            views[account_uuid] = _view(row)
            if not row["email"] and emails[account_uuid]:  # created ahead of its traffic
                TrafficAccount.objects.filter(pk=row["id"], email="").update(
                    email=emails[account_uuid][:254], updated_at=now
                )
    missing = [u for u in emails if u not in views]
    if not missing:
        return views
    new = [TrafficAccount(account_uuid=u, email=emails[u][:254], attribution_id=f"user:{u}") for u in missing]
    try:
        # A savepoint that buys something: when another writer created one of them meanwhile,
        # the page's transaction goes on and takes them one by one.
        with transaction.atomic():
            TrafficAccount.objects.bulk_create(new, batch_size=BATCH)
        created = new
    except IntegrityError:  # created meanwhile (the admin): take each one that still is missing
        created = []
        for account in new:
            obj, was_created = TrafficAccount.objects.get_or_create(
                account_uuid=account.account_uuid,
                defaults={"email": account.email, "attribution_id": account.attribution_id},
            )
            if was_created:
                created.append(obj)
    if created:
        initial_quota = config.initial_included_quota_bytes()
        TrafficQuotaState.objects.bulk_create(
            [
                TrafficQuotaState(
                    account=a,
                    remaining_included_bytes=initial_quota,
                    period_started_at=now,
                )
                for a in created
            ],
            batch_size=BATCH,
        )
        cost_centers_create_missing(attribution_ids={a.attribution_id for a in created}, now=now)
        initial_balance = config.initial_balance()
        for account in created:
            hooks.traffic_account_created(
                attribution_id=account.attribution_id,
                account_uuid=str(account.account_uuid),
                initial_balance=initial_balance,
            )
        counters.accounts_created += len(created)
    for chunk in _chunks(missing):
        for row in TrafficAccount.objects.filter(account_uuid__in=chunk).values(*_ACCOUNT_FIELDS):
            views[str(row["account_uuid"])] = _view(row)
    return views


_STATE_FIELDS = (
    "account_uuid",
    "last_uplink_total",
    "last_downlink_total",
    "last_seen_at",
    "open_minute",
    "open_uplink_bytes",
    "open_downlink_bytes",
    "sealed_through",
    "reset_count",
    "open_inbound_tags",
)


def _state_from_values(values: tuple) -> CounterState:
    _, up, down, seen, open_minute, open_up, open_down, sealed, resets, tags = values
    return CounterState(
        last_uplink=up,
        last_downlink=down,
        last_seen_at=seen,
        open_minute=open_minute,
        open_uplink=open_up,
        open_downlink=open_down,
        sealed_through=sealed,
        resets=resets,
        open_tags=frozenset(t for t in tags.split("+") if t),
    )


def _lock_states(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], CounterState]:
    states: dict[tuple[str, str], CounterState] = {}
    by_node: dict[str, list[str]] = {}
    for node_id, account_uuid in pairs:
        by_node.setdefault(node_id, []).append(account_uuid)
    for node_id in sorted(by_node):
        for chunk in _chunks(sorted(by_node[node_id])):
            rows = (
                TrafficCounterState.objects.select_for_update()
                .filter(node_id=node_id, account_uuid__in=chunk)
                .order_by("account_uuid")
                .values_list(*_STATE_FIELDS)
            )
            for values in rows:
                states[(node_id, str(values[0]))] = _state_from_values(values)
    return states


def _save_states(
    keys: Iterable[tuple[str, str]], states: dict[tuple[str, str], CounterState], *, source_id: str
) -> None:
    revision = config.source_revision()
    rows = []
    for node_id, account_uuid in keys:
        state = states[(node_id, account_uuid)]
        rows.append(
            StateRow(
                node_id=node_id,
                account_uuid=account_uuid,
                source_id=source_id,
                last_uplink_total=state.last_uplink,
                last_downlink_total=state.last_downlink,
                last_seen_at=state.last_seen_at,
                open_minute=state.open_minute,
                open_uplink_bytes=state.open_uplink,
                open_downlink_bytes=state.open_downlink,
                open_inbound_tags="+".join(sorted(state.open_tags))[:MAX_TAGS],
                sealed_through=state.sealed_through,
                reset_count=state.resets,
                source_revision=revision,
            )
        )
    upsert_counter_states(rows)


@service_opening_its_transaction
def apply_page(*, source: Source, page: WindowPage, counters: RunCounters, now: datetime) -> None:
    """Fold one page's snapshots into the counter states and write the minutes they close, in
    one durable transaction.

    `counters` learns what the page did only once its transaction has committed.
    """
    done = RunCounters()
    with durable_transaction():
        _apply_page(source=source, page=page, counters=done, now=now)
    counters.merge(done)


def _apply_page(*, source: Source, page: WindowPage, counters: RunCounters, now: datetime) -> None:
    emails: dict[str, str] = {}
    pairs: set[tuple[str, str]] = set()
    for snapshot in page.snapshots:
        for account_uuid, sample in snapshot.samples.items():
            pairs.add((snapshot.node_key, account_uuid))
            if sample.email or account_uuid not in emails:
                emails[account_uuid] = sample.email
    if not pairs:
        return
    states = _lock_states(pairs)
    accounts = ensure_accounts(emails, now=now, counters=counters)
    closed: list[tuple[str, str, ClosedMinute]] = []
    touched: set[tuple[str, str]] = set()
    for snapshot in page.snapshots:
        node_id = snapshot.node_key
        for account_uuid, sample in snapshot.samples.items():
            key = (node_id, account_uuid)
            state = states.get(key)
            if state is None:
                state = states[key] = CounterState()
            step = observe(
                state,
                collected_at=snapshot.collected_at,
                uplink_total=sample.uplink_total,
                downlink_total=sample.downlink_total,
                inbound_tags=sample.inbound_tags,
            )
            if step.replayed:
                counters.replayed.add((node_id, account_uuid, step.minute))
                continue
            counters.processed_samples += 1
            counters.counter_resets += step.reset
            touched.add(key)
            if step.closed is not None:
                closed.append((node_id, account_uuid, step.closed))
    write_minutes(closed, source=source, accounts=accounts, counters=counters, now=now)
    _save_states(sorted(touched), states, source_id=source.source_id)


@runs_in_callers_transaction
def seal_minutes(*, source: Source, before: datetime, counters: RunCounters, now: datetime) -> None:
    """Close every open minute of this source's counter states that lies before `before`.

    Call inside the transaction that moves the source's checkpoint to `before`: every sample
    up to it has been read, so those minutes are complete.
    """
    rows = list(
        TrafficCounterState.objects.select_for_update()
        .filter(source_id=source.source_id, open_minute__lt=before)
        .order_by("node_id", "account_uuid")
        .values_list("node_id", *_STATE_FIELDS)
    )
    if not rows:
        return
    states = {(values[0], str(values[1])): _state_from_values(values[1:]) for values in rows}
    closed = []
    for (node_id, account_uuid), state in states.items():
        minute = seal(state, before=before)
        if minute is not None:
            closed.append((node_id, account_uuid, minute))
    emails = {account_uuid: "" for _, account_uuid in states}
    accounts = ensure_accounts(emails, now=now, counters=counters)
    write_minutes(closed, source=source, accounts=accounts, counters=counters, now=now)
    _save_states(list(states), states, source_id=source.source_id)


def _existing_buckets(
    keys: list[tuple[datetime, str, str, str, str]],
) -> set[tuple[datetime, str, str, str, str]]:
    found: set[tuple[datetime, str, str, str, str]] = set()
    by_account: dict[str, list[datetime]] = {}
    for minute, _node, account_uuid, _region, _line in keys:
        by_account.setdefault(account_uuid, []).append(minute)
    lowest = min(k[0] for k in keys)
    highest = max(k[0] for k in keys)
    for chunk in _chunks(sorted(by_account)):
        rows = TrafficMinute.objects.filter(
            account_uuid__in=chunk, minute__gte=lowest, minute__lte=highest
        ).values_list("minute", "node_id", "account_uuid", "region", "line")
        found.update((m, n, str(a), r, li) for m, n, a, r, li in rows)
    return found


@runs_in_callers_transaction
def write_minutes(
    closed: list[tuple[str, str, ClosedMinute]],
    *,
    source: Source,
    accounts: dict[str, AccountView],
    counters: RunCounters,
    now: datetime,
) -> None:
    """Insert the facts of closed minutes and rate them; a minute stored before is a replay.

    Quota is consumed in time order per account (minute, then node). The attributions rated
    get their cost centers if they have none (an account created before cost centers were).
    """
    closed = [c for c in closed if c[2].total > 0]
    if not closed:
        return
    region, line = source.region, source.line
    keyed = [((c[2].minute, c[0], c[1], region, line), c) for c in closed]
    existing = _existing_buckets([k for k, _ in keyed])
    fresh = []
    for bucket, item in keyed:
        if bucket in existing:
            counters.replayed.add((item[0], item[1], item[2].minute))
        else:
            fresh.append(item)
    if not fresh:
        return
    fresh.sort(key=lambda c: (c[1], c[2].minute, c[0]))
    account_ids = sorted({accounts[c[1]].id for c in fresh})
    quotas = lock_quotas(account_ids)
    for start in range(0, len(fresh), WRITE_CHUNK):  # bounded memory, same transaction
        _rate_and_insert(
            fresh[start : start + WRITE_CHUNK],
            source=source,
            accounts=accounts,
            quotas=quotas,
            counters=counters,
        )
    update_quotas(list(quotas.values()))
    # After the entries: the first cycle of a new cost center then starts at their hour.
    cost_centers_create_missing(attribution_ids={accounts[c[1]].attribution_id for c in fresh}, now=now)


def _rate_and_insert(
    chunk: list[tuple[str, str, ClosedMinute]],
    *,
    source: Source,
    accounts: dict[str, AccountView],
    quotas: dict[int, QuotaRow],
    counters: RunCounters,
) -> None:
    region, line = source.region, source.line
    facts: list[FactRow] = []
    entries: list[EntryRow] = []
    for node_id, account_uuid, minute in chunk:
        account = accounts[account_uuid]
        quota = quotas.get(account.id)
        if quota is None:  # an account whose quota state went missing: start it afresh
            TrafficQuotaState.objects.create(
                account_id=account.id,
                remaining_included_bytes=account.pricing.included_quota_bytes,
                period_started_at=minute.minute,
            )
            quota = quotas[account.id] = lock_quotas([account.id])[account.id]
        rated = rate_minute(
            total_bytes=minute.total, remaining_quota=quota.remaining_included_bytes, pricing=account.pricing
        )
        quota.remaining_included_bytes = rated.remaining_quota_after
        quota.uplink_bytes += minute.uplink
        quota.downlink_bytes += minute.downlink
        quota.total_bytes += minute.total
        quota.chargeable_bytes += rated.chargeable_bytes
        quota.credits += rated.credits
        if quota.last_rated_minute is None or minute.minute > quota.last_rated_minute:
            quota.last_rated_minute = minute.minute
        key = entry_key(
            account_uuid=account_uuid, node_id=node_id, minute=minute.minute, region=region, line=line
        )
        pricing = account.pricing
        multiplier = pricing.multiplier
        description = f"Traffic {minute.total} B ({rated.chargeable_bytes} B chargeable) on {node_id}"
        facts.append(
            FactRow(
                minute=minute.minute,
                node_id=node_id,
                account_uuid=account_uuid,
                region=region,
                line=line,
                attribution_id=account.attribution_id,
                source_id=source.source_id,
                uplink_bytes=minute.uplink,
                downlink_bytes=minute.downlink,
                total_bytes=minute.total,
                included_bytes=rated.included_bytes,
                chargeable_bytes=rated.chargeable_bytes,
                credits=rated.credits,
                price_per_byte=pricing.price_per_byte,
                multiplier=multiplier,
                pricing_rule_version=pricing.rule_version,
                inbound_tags="+".join(minute.inbound_tags)[:MAX_TAGS],
                entry_key=key,
            )
        )
        entries.append(
            EntryRow(
                id=uuid.uuid5(ENTRY_NAMESPACE, key),
                object_id=key,
                attribution_id=account.attribution_id,
                description=description[:500],
                credits=rated.credits,
                effective_time=minute.minute,
                metadata=orjson.dumps(
                    {
                        "account_uuid": account_uuid,
                        "node_id": node_id,
                        "region": region,
                        "line": line,
                        "minute": format_rfc3339(minute.minute),
                        "uplink_bytes": minute.uplink,
                        "downlink_bytes": minute.downlink,
                        "total_bytes": minute.total,
                        "included_bytes": rated.included_bytes,
                        "chargeable_bytes": rated.chargeable_bytes,
                        "price_per_byte": f"{pricing.price_per_byte:f}",
                        "multiplier": f"{multiplier:f}",
                        "pricing_rule_version": pricing.rule_version,
                    }
                ).decode(),
            )
        )
        counters.credits += rated.credits
    try:
        insert_facts(facts)  # no savepoint: a ConcurrentWrite rolls the whole page back
    except IntegrityError as exc:
        raise ConcurrentWrite(f"minute facts were written by another run meanwhile: {exc}") from exc
    insert_entries(entries)
    counters.written_minutes += len(facts)
