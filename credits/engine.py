"""Credit grant burn-down: which grant paid for which usage, and what is left.

Pure on purpose: no Django, no database. The service layer loads a ledger's grants and resets,
hands over a usage reader, calls `compute_balance`, and stores what comes back (snapshots,
rollover children). Keeping the rules here lets Hypothesis check them without a database.

The rules (DESIGN.md section 6, after OpenMeter credits):

* Every grant start, expiry, void, reset and period bound is truncated to the minute (UTC), so
  late seconds never split a phase and a snapshot boundary always falls on a phase boundary.
* A grant pays only for usage of its own feature (`None` is the generic `credits` feature, a key
  of its own) and only inside [effective_at, min(expires_at, voided_at, next reset)).
* Burn order: priority ascending, then earliest expires_at (no expiry last), then earliest
  created_at, then id.
* The period is cut into phases at every grant start, expiry, void and reset. In a phase, per
  feature, the active grants pay in burn order first the overage carried in from earlier phases
  and then the phase's own usage; what no grant covers is overage and is carried on. So a grant
  that starts later pays down overage run up earlier in the same reset period. Paying carried
  overage first is the same as burning (carried + usage) in one go, which is what makes a phase
  cut anywhere (a snapshot) invisible in the result.
* Overage is kept per feature: a grant cannot pay another feature's usage, so a single number
  would let one feature's overage be "paid" by another feature's later grant.
* A reset at t drops the overage and ends every grant that took effect before t. A grant active
  at t with a rollover becomes a child grant effective at t for its original amount or its
  remaining balance, clamped to [min_amount, max_amount]; a child of 0 or less is not created.
* The state "at t" includes everything that takes effect at t: a period [start, end) applies a
  reset at `end` (and not one at `start`, which the snapshot at `start` already contains), so
  computing [t0, t1) then [t1, t2) from the first result equals computing [t0, t2).

Money is `Decimal` only; a float anywhere raises TypeError. Balances never go below zero nor
above the grant's amount.
"""

import enum
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.months import add_months

ZERO = Decimal(0)
MAX_PRIORITY = 255

FeatureKey = str | None
GrantId = Hashable
UsageReader = Callable[[FeatureKey, datetime, datetime], Decimal]
"""`usage(feature_key, start, end)`: usage of that feature in [start, end), as a Decimal."""


class RolloverType(enum.StrEnum):
    ORIGINAL_AMOUNT = "ORIGINAL_AMOUNT"
    REMAINING_AMOUNT = "REMAINING_AMOUNT"


class ExpirationUnit(enum.StrEnum):
    HOUR = "HOUR"
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"
    YEAR = "YEAR"


def _require_money(value: object, what: str) -> Decimal:
    if isinstance(value, float):
        raise TypeError(f"{what} must be a Decimal, never a float (got {value!r}).")
    if not isinstance(value, Decimal):
        raise TypeError(f"{what} must be a Decimal (got {type(value).__name__}).")
    if not value.is_finite():
        raise ValueError(f"{what} must be a finite number (got {value!r}).")
    return value


def _require_aware(value: object, what: str) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime (got {value!r}).")


def truncate_to_minute(value: datetime) -> datetime:
    """The engine's resolution: UTC, seconds and microseconds dropped."""
    _require_aware(value, "time")
    return value.astimezone(UTC).replace(second=0, microsecond=0)


def _truncate_optional(value: datetime | None) -> datetime | None:
    return None if value is None else truncate_to_minute(value)


def expiration_to_expires_at(effective_at: datetime, count: int, unit: ExpirationUnit | str) -> datetime:
    """When a grant with expiration (count, unit) expires; MONTH and YEAR clamp to the month's end.

    Computed in UTC at the same time of day; the engine truncates the result to the minute on use.
    """
    _require_aware(effective_at, "effective_at")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"Expiration count must be a positive whole number (got {count!r}).")
    unit = ExpirationUnit(unit)
    start = effective_at.astimezone(UTC)
    if unit is ExpirationUnit.HOUR:
        return start + timedelta(hours=count)
    if unit is ExpirationUnit.DAY:
        return start + timedelta(days=count)
    if unit is ExpirationUnit.WEEK:
        return start + timedelta(weeks=count)
    return add_months(start, count if unit is ExpirationUnit.MONTH else 12 * count)


@dataclass(frozen=True)
class RolloverSpec:
    """What a grant carries over a reset; either bound may be None."""

    type: RolloverType
    max_amount: Decimal | None = None
    min_amount: Decimal | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", RolloverType(self.type))
        for name in ("max_amount", "min_amount"):
            value = getattr(self, name)
            if value is not None and _require_money(value, f"Rollover {name}") < 0:
                raise ValueError(f"Rollover {name} must not be negative (got {value}).")
        if self.min_amount is not None and self.max_amount is not None and self.min_amount > self.max_amount:
            raise ValueError(f"Rollover min_amount {self.min_amount} is above max_amount {self.max_amount}.")

    def clamp(self, amount: Decimal) -> Decimal:
        if self.max_amount is not None:
            amount = min(amount, self.max_amount)
        if self.min_amount is not None:
            amount = max(amount, self.min_amount)
        return amount


@dataclass(frozen=True, kw_only=True)
class GrantSpec:
    """A grant as the engine sees it. `parent_id` is set on rollover children."""

    id: GrantId
    feature_key: FeatureKey
    amount: Decimal
    priority: int
    effective_at: datetime
    created_at: datetime
    expires_at: datetime | None = None
    voided_at: datetime | None = None
    rollover: RolloverSpec | None = None
    parent_id: GrantId | None = None

    def __post_init__(self) -> None:
        if _require_money(self.amount, "Grant amount") <= 0:
            raise ValueError(f"Grant amount must be positive (got {self.amount}).")
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise TypeError(f"Grant priority must be an int (got {self.priority!r}).")
        if not 0 <= self.priority <= MAX_PRIORITY:
            raise ValueError(f"Grant priority must be between 0 and {MAX_PRIORITY} (got {self.priority}).")
        for name in ("effective_at", "created_at", "expires_at", "voided_at"):
            value = getattr(self, name)
            if value is not None:
                _require_aware(value, f"Grant {name}")
        if self.expires_at is not None and self.expires_at <= self.effective_at:
            raise ValueError("Grant expires_at must be after effective_at.")


@dataclass(frozen=True)
class ResetSpec:
    at: datetime

    def __post_init__(self) -> None:
        _require_aware(self.at, "Reset time")


@dataclass(frozen=True)
class RolloverChildId:
    """Id of a child the engine created; the service replaces it with the stored row's id."""

    parent_id: GrantId
    reset_at: datetime


@dataclass(frozen=True)
class Segment:
    """One phase of history: nothing starts, ends or resets strictly inside [start, end).

    `usage` is the metered usage per feature in the phase; `grant_usage` what each grant paid in
    it (carried overage included), grants that paid nothing left out; `overage` is what is owed
    per feature at `end`, before a reset at `end` drops it.
    """

    start: datetime
    end: datetime
    usage: dict[FeatureKey, Decimal]
    grant_usage: dict[GrantId, Decimal]
    overage: dict[FeatureKey, Decimal]


@dataclass(frozen=True)
class BalanceResult:
    """The state at `end` and how the period got there.

    `balances` has every grant that took effect by `end` (rollover children created here
    included); a grant that has expired, been voided or been ended by a reset shows 0, since its
    remainder can no longer pay for anything. `overage` and `usage_total` are per feature (every
    tracked feature present, zero or not); `dropped_overage` is what resets inside the period
    wrote off. `rollover_children` are only the children this call created: the caller stores
    them and passes them back as grants next time.
    """

    start: datetime
    end: datetime
    balances: dict[GrantId, Decimal]
    overage: dict[FeatureKey, Decimal]
    usage_total: dict[FeatureKey, Decimal]
    dropped_overage: dict[FeatureKey, Decimal]
    segments: list[Segment] = field(default_factory=list)
    rollover_children: list[GrantSpec] = field(default_factory=list)


def _id_sort_key(grant_id: GrantId) -> tuple:
    # Ids of different types (a stored int, an engine-made child id) must still sort stably.
    if isinstance(grant_id, RolloverChildId):
        return ("~rollover", _id_sort_key(grant_id.parent_id), grant_id.reset_at)
    return (type(grant_id).__name__, grant_id)


@dataclass
class _GrantState:
    """A grant's window (minute-truncated) and running balance while the engine walks time."""

    spec: GrantSpec
    active_from: datetime
    natural_until: datetime | None  # expiry or void, whichever is first
    active_until: datetime | None  # natural_until or the first reset after active_from
    balance: Decimal
    sort_key: tuple

    @classmethod
    def open(cls, spec: GrantSpec, reset_times: list[datetime], seeded: Decimal | None) -> "_GrantState":
        active_from = truncate_to_minute(spec.effective_at)
        ends = [
            t
            for t in (_truncate_optional(spec.expires_at), _truncate_optional(spec.voided_at))
            if t is not None
        ]
        natural_until = min(ends) if ends else None
        ending_reset = next((t for t in reset_times if t > active_from), None)
        candidates = [t for t in (natural_until, ending_reset) if t is not None]
        active_until = max(min(candidates), active_from) if candidates else None
        balance = (
            spec.amount if seeded is None else _require_money(seeded, f"Starting balance of {spec.id!r}")
        )
        if not ZERO <= balance <= spec.amount:
            raise ValueError(
                f"Starting balance {balance} of grant {spec.id!r} is outside [0, {spec.amount}]."
            )
        expiry = _truncate_optional(spec.expires_at)
        sort_key = (
            spec.priority,
            expiry is None,
            expiry or active_from,
            spec.created_at,
            _id_sort_key(spec.id),
        )
        return cls(spec, active_from, natural_until, active_until, balance, sort_key)

    def is_active_at(self, moment: datetime) -> bool:
        return self.active_from <= moment and (self.active_until is None or moment < self.active_until)


def _read_usage(usage: UsageReader, feature: FeatureKey, start: datetime, end: datetime) -> Decimal:
    used = _require_money(usage(feature, start, end), f"Usage of {feature!r}")
    if used < 0:
        raise ValueError(f"Usage of {feature!r} in [{start}, {end}) is negative ({used}).")
    return used


def _next_boundary(
    moment: datetime, period_end: datetime, states: Iterable[_GrantState], reset_times: list[datetime]
) -> datetime:
    boundary = period_end
    for state in states:
        for edge in (state.active_from, state.active_until):
            if edge is not None and moment < edge < boundary:
                boundary = edge
    for reset_at in reset_times:
        if moment < reset_at < boundary:
            boundary = reset_at
    return boundary


def _burn_phase(
    start: datetime,
    end: datetime,
    states: Mapping[GrantId, _GrantState],
    overage: dict[FeatureKey, Decimal],
    usage: UsageReader,
    usage_total: dict[FeatureKey, Decimal],
) -> Segment:
    """Burn carried overage, then the phase's usage, through the active grants in burn order."""
    active = sorted((s for s in states.values() if s.is_active_at(start)), key=lambda s: s.sort_key)
    phase_usage: dict[FeatureKey, Decimal] = {}
    grant_usage: dict[GrantId, Decimal] = {}
    for feature in overage:
        used = _read_usage(usage, feature, start, end)
        phase_usage[feature] = used
        usage_total[feature] += used
        owed = overage[feature] + used
        for state in active:
            if owed == 0:
                break
            if state.spec.feature_key != feature or state.balance == 0:
                continue
            paid = min(state.balance, owed)
            state.balance -= paid
            owed -= paid
            grant_usage[state.spec.id] = paid
        overage[feature] = owed
    return Segment(start=start, end=end, usage=phase_usage, grant_usage=grant_usage, overage=dict(overage))


def _roll_over(
    at: datetime, states: dict[GrantId, _GrantState], reset_times: list[datetime]
) -> list[GrantSpec]:
    """Create the children of the grants a reset at `at` ends; adds them to `states`.

    A child already stored (a grant with this parent effective at `at`) is used as it is rather
    than created again, so recomputing across a stored reset does not double the credit.
    """
    stored_children = {
        s.spec.parent_id for s in states.values() if s.spec.parent_id is not None and s.active_from == at
    }
    created: list[GrantSpec] = []
    for state in sorted(states.values(), key=lambda s: s.sort_key):
        spec = state.spec
        ended_by_this_reset = state.active_from < at == state.active_until
        still_valid = state.natural_until is None or state.natural_until > at
        if not (ended_by_this_reset and still_valid) or spec.rollover is None or spec.id in stored_children:
            continue
        if spec.rollover.type is RolloverType.ORIGINAL_AMOUNT:
            amount = spec.rollover.clamp(spec.amount)
        else:
            amount = spec.rollover.clamp(state.balance)
        if amount <= 0:
            continue
        created.append(
            GrantSpec(
                id=RolloverChildId(parent_id=spec.id, reset_at=at),
                feature_key=spec.feature_key,
                amount=amount,
                priority=spec.priority,
                effective_at=at,
                created_at=spec.created_at,
                expires_at=spec.expires_at,
                rollover=spec.rollover,
                parent_id=spec.id,
            )
        )
    for child in created:
        states[child.id] = _GrantState.open(child, reset_times, None)
    return created


def _tracked_features(
    features: Iterable[FeatureKey], grants: Iterable[GrantSpec], overage: Mapping[FeatureKey, Decimal]
) -> list[FeatureKey]:
    # Ordered (not a set) so results and usage queries come out the same on every run.
    return list(dict.fromkeys([*features, *(g.feature_key for g in grants), *overage]))


def compute_balance(
    *,
    grants: Iterable[GrantSpec],
    resets: Iterable[ResetSpec],
    usage: UsageReader,
    start: datetime,
    end: datetime,
    starting_balances: Mapping[GrantId, Decimal] | None = None,
    starting_overage: Mapping[FeatureKey, Decimal] | None = None,
    features: Iterable[FeatureKey] = (),
    rollover_at: Iterable[datetime] | None = None,
) -> BalanceResult:
    """Burn usage in [start, end) down through the grants; the state at `end`.

    `rollover_at`: the resets at which rollover children may be created (None: every reset);
    at any other reset only the children passed in `grants` carry the rollover.

    `grants`: every grant that may be active in the period, rollover children stored earlier
    included. `resets`: the ledger's resets up to `end`; those at or before `start` are not
    replayed (the snapshot holds them) but still end the grants that took effect before them.
    `starting_balances` / `starting_overage` are a snapshot at `start` (a previous result's
    `balances` / `overage`); a grant missing from it starts at its full amount. `features` are
    extra feature keys to account for even without grants (their usage is all overage).
    """
    period_start, period_end = truncate_to_minute(start), truncate_to_minute(end)
    if period_end < period_start:
        raise ValueError(f"Period end {period_end} is before its start {period_start}.")
    if isinstance(starting_overage, Decimal):
        raise TypeError("starting_overage is per feature: pass {feature_key: Decimal}.")
    grants = list(grants)
    reset_times = sorted({truncate_to_minute(reset.at) for reset in resets})
    seeded = dict(starting_balances or {})
    states: dict[GrantId, _GrantState] = {}
    for grant in grants:
        if grant.id in states:
            raise ValueError(f"Grant {grant.id!r} is listed twice.")
        states[grant.id] = _GrantState.open(grant, reset_times, seeded.get(grant.id))

    carried = dict(starting_overage or {})
    for feature, owed in carried.items():
        if _require_money(owed, f"Starting overage of {feature!r}") < 0:
            raise ValueError(f"Starting overage of {feature!r} must not be negative (got {owed}).")
    tracked = _tracked_features(features, grants, carried)
    overage = {feature: carried.get(feature, ZERO) for feature in tracked}
    usage_total = dict.fromkeys(tracked, ZERO)
    dropped_overage = dict.fromkeys(tracked, ZERO)

    segments: list[Segment] = []
    rollover_children: list[GrantSpec] = []
    reset_set = set(reset_times)
    creating = reset_set if rollover_at is None else {truncate_to_minute(t) for t in rollover_at}
    moment = period_start
    while moment < period_end:
        phase_end = _next_boundary(moment, period_end, states.values(), reset_times)
        segments.append(_burn_phase(moment, phase_end, states, overage, usage, usage_total))
        moment = phase_end
        if moment in reset_set:
            if moment in creating:
                rollover_children.extend(_roll_over(moment, states, reset_times))
            for feature, owed in overage.items():
                dropped_overage[feature] += owed
                overage[feature] = ZERO

    balances = {
        grant_id: state.balance if state.is_active_at(period_end) else ZERO
        for grant_id, state in states.items()
        if state.active_from <= period_end
    }
    return BalanceResult(
        start=period_start,
        end=period_end,
        balances=balances,
        overage=overage,
        usage_total=usage_total,
        dropped_overage=dropped_overage,
        segments=segments,
        rollover_children=rollover_children,
    )
