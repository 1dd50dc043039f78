"""A ledger's state at a cutline: the newest snapshot, then the engine over the usage after it.

The cost of a balance depends on what happened since the snapshot, never on history: a handful of
row reads (ledger, snapshot, resets and grants of the current period) and one usage SUM per
(phase, feature) after the snapshot, computed by the database (`usage.selectors`).

Which features a snapshot tracks matters: a snapshot holds the overage and period usage of the
features listed in its `overage`. A feature it does not list had no grant in the snapshot's
period (a grant taking effect at or before a snapshot deletes it), so that feature's state at the
snapshot is simply its usage since the period start, all of it owed: one SUM seeds it.
"""

import logging
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction

from core.money import ZERO, to_decimal
from credits.engine import (
    BalanceResult,
    FeatureKey,
    GrantSpec,
    ResetSpec,
    RolloverSpec,
    RolloverType,
    compute_balance,
    truncate_to_minute,
)
from credits.models import GENERIC_FEATURE_KEY, BalanceSnapshot, Feature, Grant, Ledger, Reset
from usage import selectors as usage_selectors

logger = logging.getLogger(__name__)

ORIGIN = datetime(1970, 1, 1, tzinfo=UTC)
"""Where a ledger's first period starts: usage before the first grant is overage that a later
grant of the same period pays down (DESIGN §6). A reset starts a fresh period."""
MINUTE = timedelta(minutes=1)


def engine_feature_key(feature_key: str | None) -> FeatureKey:
    """The engine's key: None for rated credits (no feature, or the feature named `credits`)."""
    return None if feature_key in (None, GENERIC_FEATURE_KEY) else feature_key


def public_feature_key(feature: FeatureKey) -> str:
    return GENERIC_FEATURE_KEY if feature is None else feature


def grant_engine_key(grant: "GrantRow") -> FeatureKey:
    return engine_feature_key(grant.feature_key)


def cutline(at: datetime) -> datetime:
    """A read's cutline: `at` rounded up to the whole minute, so "now" counts this minute's usage.

    Usage at 12:00:30 is usage of minute 12:00; the state "at 12:00:45" includes it, and the
    engine's state at 12:01 is exactly that. A time on the minute stays as it is.
    """
    floor = truncate_to_minute(at)
    return floor if floor == at.astimezone(UTC) else floor + MINUTE


@contextmanager
def consistent_read():
    """Several queries that must see one state of the database (REPEATABLE READ on PostgreSQL).

    Writers hold the ledger lock, readers do not: without this a grant could be committed
    between reading the snapshot and reading the grants. Inside an outer transaction (a service
    holding the lock, a test) the caller's transaction already decides.
    """
    if connection.in_atomic_block or connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


class UsageReader:
    """The engine's `usage(feature, start, end)`: one SUM in the database per call."""

    def __init__(self, attribution_id: str, meter_slugs: Mapping[FeatureKey, str]):
        self.attribution_id = attribution_id
        self.meter_slugs = dict(meter_slugs)
        self.queries = 0

    def __call__(self, feature: FeatureKey, start: datetime, end: datetime) -> Decimal:
        if end <= start:
            return ZERO
        self.queries += 1
        slug = self.meter_slugs.get(feature, GENERIC_FEATURE_KEY)
        if slug == GENERIC_FEATURE_KEY:
            used = usage_selectors.credits_used(attribution_id=self.attribution_id, start=start, end=end)
        else:
            used = usage_selectors.meter_units_used(
                attribution_id=self.attribution_id, meter_slug=slug, start=start, end=end
            )
        return used if isinstance(used, Decimal) else to_decimal(used)


@dataclass(frozen=True, slots=True)
class GrantRow:
    """What the engine and a balance need of a grant, read without building model instances
    (a balance reads up to a few hundred of them, and must stay within milliseconds)."""

    id: int
    feature_key: str | None
    meter_slug: str | None
    amount: Decimal
    priority: int
    effective_at: datetime
    expires_at: datetime | None
    voided_at: datetime | None
    created_at: datetime
    rollover_type: str | None
    rollover_max_amount: Decimal | None
    rollover_min_amount: Decimal | None
    parent_id: int | None


_GRANT_COLUMNS = (
    "id",
    "feature__key",
    "feature__meter_slug",
    "amount",
    "priority",
    "effective_at",
    "expires_at",
    "voided_at",
    "created_at",
    "rollover_type",
    "rollover_max_amount",
    "rollover_min_amount",
    "parent_id",
)
_PG_GRANTS_SQL = """
SELECT g.id, f.key, f.meter_slug, g.amount, g.priority,
       (EXTRACT(EPOCH FROM g.effective_at) * 1000000)::bigint,
       (EXTRACT(EPOCH FROM g.expires_at) * 1000000)::bigint,
       (EXTRACT(EPOCH FROM g.voided_at) * 1000000)::bigint,
       (EXTRACT(EPOCH FROM g.created_at) * 1000000)::bigint,
       g.rollover_type, g.rollover_max_amount, g.rollover_min_amount, g.parent_id
FROM {grant} g LEFT OUTER JOIN {feature} f ON f.id = g.feature_id
WHERE g.ledger_id = %s AND g.effective_at >= %s AND g.effective_at <= %s
ORDER BY g.id
"""


def _from_epoch_micros(value: int | None) -> datetime | None:
    return None if value is None else ORIGIN + timedelta(microseconds=value)


def load_grant_rows(ledger: Ledger, *, since: datetime, until: datetime) -> list[GrantRow]:
    """Grants of `ledger` taking effect in [since, until], by id.

    On PostgreSQL times come as whole microseconds since the epoch: exact, and several times
    cheaper to read than timestamps, which a balance of 100 grants notices.
    """
    if connection.vendor != "postgresql":
        rows = (
            Grant.objects.filter(ledger=ledger, effective_at__gte=since, effective_at__lte=until)
            .order_by("id")
            .values_list(*_GRANT_COLUMNS)
        )
        return [GrantRow(*row) for row in rows]
    sql = _PG_GRANTS_SQL.format(grant=Grant._meta.db_table, feature=Feature._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, [ledger.pk, since, until])
        rows = cursor.fetchall()
    return [
        GrantRow(
            id=row[0],
            feature_key=row[1],
            meter_slug=row[2],
            amount=row[3],
            priority=row[4],
            effective_at=_from_epoch_micros(row[5]),
            expires_at=_from_epoch_micros(row[6]),
            voided_at=_from_epoch_micros(row[7]),
            created_at=_from_epoch_micros(row[8]),
            rollover_type=row[9],
            rollover_max_amount=row[10],
            rollover_min_amount=row[11],
            parent_id=row[12],
        )
        for row in rows
    ]


def grant_spec(grant: GrantRow) -> GrantSpec:
    rollover = None
    if grant.rollover_type:
        rollover = RolloverSpec(
            RolloverType(grant.rollover_type),
            max_amount=grant.rollover_max_amount,
            min_amount=grant.rollover_min_amount,
        )
    return GrantSpec(
        id=grant.id,
        feature_key=grant_engine_key(grant),
        amount=grant.amount,
        priority=grant.priority,
        effective_at=grant.effective_at,
        created_at=grant.created_at,
        expires_at=grant.expires_at,
        voided_at=grant.voided_at,
        rollover=rollover,
        parent_id=grant.parent_id,
    )


def burn_order_key(grant: GrantRow) -> tuple:
    """The engine's burn order: priority, earliest expiry (none last), creation, id."""
    expiry = grant.expires_at
    return (grant.priority, expiry is None, expiry or grant.effective_at, grant.created_at, grant.id)


@dataclass
class LedgerComputation:
    """One run of the engine for a ledger up to `at`, and what it started from."""

    attribution_id: str
    ledger: Ledger | None
    at: datetime
    base: BalanceSnapshot | None
    start: datetime
    period_start: datetime | None
    grants: dict[int, GrantRow]
    features: list[FeatureKey]
    resets: list[datetime]
    result: BalanceResult
    usage_before: dict[FeatureKey, Decimal]
    usage_queries: int
    settled: dict[int, Decimal] = field(default_factory=dict)
    meter_slugs: dict[FeatureKey, str] = field(default_factory=dict)
    """The meter each tracked feature counts (`credits` for rated credits)."""

    @property
    def balances(self) -> dict:
        """Every grant's balance at `at`: the engine's, and 0 for the grants it did not need."""
        return {**self.settled, **self.result.balances}

    def usage_since(self, feature: FeatureKey, since: datetime) -> Decimal:
        """Usage of `feature` in [since, at), `since` being the start of a period (ORIGIN or a reset)."""
        if since > self.start:
            return sum((s.usage.get(feature, ZERO) for s in self.result.segments if s.start >= since), ZERO)
        return self.usage_before[feature] + self.result.usage_total.get(feature, ZERO)

    @property
    def period_usage(self) -> dict[FeatureKey, Decimal]:
        """Usage per feature in the current period (since the last reset at or before `at`)."""
        since = self.period_start or ORIGIN
        return {feature: self.usage_since(feature, since) for feature in self.features}

    @property
    def period_grants(self) -> list[GrantRow]:
        """Grants of the current reset period (those before it ended at the reset), burn order."""
        start = self.period_start or ORIGIN
        return sorted((g for g in self.grants.values() if g.effective_at >= start), key=burn_order_key)

    def balance_of(self, grant: GrantRow) -> Decimal:
        return self.result.balances.get(grant.id, ZERO)


def _settled(grant: GrantRow, moment: datetime, starting_balance: Decimal | None) -> bool:
    """A grant that can neither pay nor roll over after `moment`: ended by then (expired or
    voided; stored times are whole minutes), or spent without a rollover. Its balance stays 0
    for good, so the engine need not see it: a balance costs what the live grants cost."""
    ends = [t for t in (grant.expires_at, grant.voided_at) if t is not None]
    if ends and min(ends) <= moment:
        return True
    return starting_balance == 0 and grant.rollover_type is None


def _meter_slugs(
    features: Iterable[FeatureKey], grants: Iterable[GrantRow], known: Mapping[FeatureKey, str] | None
) -> dict[FeatureKey, str]:
    slugs: dict[FeatureKey, str] = {None: GENERIC_FEATURE_KEY, **(known or {})}
    for grant in grants:
        if grant.meter_slug is not None:
            slugs.setdefault(grant_engine_key(grant), grant.meter_slug)
    missing = [f for f in features if f not in slugs]
    if missing:
        slugs.update(Feature.objects.filter(key__in=missing).values_list("key", "meter_slug"))
    return slugs


def _newest_snapshot(ledger: Ledger | None, at: datetime) -> BalanceSnapshot | None:
    if ledger is None:
        return None
    return BalanceSnapshot.objects.filter(ledger=ledger, at__lte=at).order_by("-at").first()


_UNREAD = object()


def ledger_and_snapshot(attribution_id: str, at: datetime) -> tuple[Ledger | None, BalanceSnapshot | None]:
    """The ledger and its newest snapshot at or before `at`, in one query when there is one."""
    snapshot = (
        BalanceSnapshot.objects.select_related("ledger")
        .filter(ledger__attribution_id=attribution_id, at__lte=at)
        .order_by("-at")
        .first()
    )
    if snapshot is not None:
        return snapshot.ledger, snapshot
    return ledger_get(attribution_id=attribution_id), None


def ledger_compute(
    *,
    attribution_id: str,
    ledger: Ledger | None,
    at: datetime,
    features: Iterable[FeatureKey] | None = None,
    meter_slugs: Mapping[FeatureKey, str] | None = None,
    track_everything: bool = False,
    use_snapshot: bool = True,
    snapshot: BalanceSnapshot | object | None = _UNREAD,
    rollover_at: datetime | None = None,
) -> LedgerComputation:
    """Run the engine for `ledger` up to `at` (truncated to the minute) from its newest snapshot.

    Rollover children are created only at `rollover_at` (the reset being made, which stores
    them); at every other stored reset the children are the ones stored when it ran, so a reset's
    rollover never changes afterwards, even when usage before it does.

    `features`: the engine keys to account for; None means the ledger's own view, the rated
    credits plus every feature with a grant in the current period (with `track_everything`,
    also every feature of a loaded grant or of the snapshot: what a snapshot must carry on).
    `ledger=None` computes an attribution without a ledger: no grants, all usage overage.
    `snapshot`: the newest snapshot at or before `at` when the caller has read it already.
    """
    at = truncate_to_minute(at)
    if not use_snapshot:
        base = None
    elif snapshot is _UNREAD:
        base = _newest_snapshot(ledger, at)
    else:
        base = snapshot
    base_at = base.at if base is not None else ORIGIN
    base_period_start = (base.period_start or ORIGIN) if base is not None else ORIGIN

    resets: list[datetime] = []
    loaded: list[GrantRow] = []
    if ledger is not None:
        # Only resets after the snapshot matter: the grants read below all took effect at or
        # after the snapshot's period start, so no earlier reset ends them. `last_reset_at`
        # saves the query when there is none.
        if ledger.last_reset_at is not None and ledger.last_reset_at > base_at:
            resets = list(
                Reset.objects.filter(ledger=ledger, effective_at__gt=base_at, effective_at__lte=at)
                .order_by("effective_at")
                .values_list("effective_at", flat=True)
            )
        # Grants that took effect before the snapshot's period were ended by its reset: they
        # can neither pay nor roll over any more, so they are not read (history does not count).
        loaded = load_grant_rows(ledger, since=base_period_start, until=at)
    period_start = resets[-1] if resets else (base_period_start if base_period_start > ORIGIN else None)
    in_period_from = period_start or ORIGIN

    if features is None:
        wanted = {None, *(grant_engine_key(g) for g in loaded if g.effective_at >= in_period_from)}
        if track_everything:
            wanted |= {grant_engine_key(g) for g in loaded}
            if base is not None:
                wanted |= {engine_feature_key(key) for key in base.overage}
    else:
        wanted = set(features)
    tracked = sorted(wanted, key=lambda f: (f is not None, f or ""))

    if base is not None:
        untracked_with_grants = {
            grant_engine_key(g)
            for g in loaded
            if g.effective_at <= base.at and public_feature_key(grant_engine_key(g)) not in base.overage
        } & wanted
        if untracked_with_grants:
            # Cannot happen while every backdated write deletes the snapshots after it; if it
            # does, the snapshot is not to be trusted for these features: start from scratch.
            logger.warning(
                "Snapshot %s of ledger %s misses features %s that have grants; recomputing from the start.",
                base.pk,
                attribution_id,
                sorted(map(public_feature_key, untracked_with_grants)),
            )
            return ledger_compute(
                attribution_id=attribution_id,
                ledger=ledger,
                at=at,
                features=features,
                meter_slugs=meter_slugs,
                track_everything=track_everything,
                use_snapshot=False,
            )

    engine_grants = [g for g in loaded if grant_engine_key(g) in wanted]
    reader = UsageReader(attribution_id, _meter_slugs(tracked, engine_grants, meter_slugs))

    starting_balances: dict[int, Decimal] = {}
    starting_overage: dict[FeatureKey, Decimal] = {}
    usage_before: dict[FeatureKey, Decimal] = dict.fromkeys(tracked, ZERO)
    settled: dict[int, Decimal] = {}
    live = engine_grants
    if base is not None:
        passed = {g.id for g in engine_grants}
        starting_balances = {
            int(grant_id): Decimal(value)
            for grant_id, value in base.balances.items()
            if int(grant_id) in passed
        }
        live = []
        for grant in engine_grants:
            if _settled(grant, base_at, starting_balances.get(grant.id)):
                settled[grant.id] = ZERO
            else:
                live.append(grant)
        starting_balances = {
            grant.id: starting_balances[grant.id] for grant in live if grant.id in starting_balances
        }
        for feature in tracked:
            key = public_feature_key(feature)
            if key in base.overage:
                starting_overage[feature] = Decimal(base.overage[key])
                usage_before[feature] = Decimal(base.usage.get(key, "0"))
            else:
                # No grant of this feature in the snapshot's period: all its usage there is owed.
                owed = reader(feature, base_period_start, base_at)
                starting_overage[feature] = owed
                usage_before[feature] = owed

    result = compute_balance(
        grants=[grant_spec(g) for g in live],
        resets=[ResetSpec(r) for r in resets],
        usage=reader,
        start=base_at,
        end=at,
        starting_balances=starting_balances,
        starting_overage=starting_overage,
        features=tracked,
        rollover_at=[rollover_at] if rollover_at is not None else [],
    )

    return LedgerComputation(
        attribution_id=attribution_id,
        ledger=ledger,
        at=at,
        base=base,
        start=base_at,
        period_start=period_start,
        grants={g.id: g for g in engine_grants},
        features=tracked,
        resets=resets,
        result=result,
        usage_before=usage_before,
        usage_queries=reader.queries,
        settled=settled,
        meter_slugs={feature: reader.meter_slugs.get(feature, GENERIC_FEATURE_KEY) for feature in tracked},
    )


def ledger_get(*, attribution_id: str) -> Ledger | None:
    return Ledger.objects.filter(attribution_id=attribution_id).first()
