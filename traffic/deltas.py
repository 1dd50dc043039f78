"""Cumulative counters → minute deltas. Pure: no ORM, no clock, ints only.

One `CounterState` per (node, account uuid). Each sample carries the account's totals summed
over its inbound tags (`aggregate_samples`). The rules:

- a sample collected at or before the state's last seen time is a replay: skipped;
- no state yet (first sight): the whole totals are the delta;
- a total that went down is a counter reset (the exporter or Xray restarted): the new totals
  are the delta since the reset, so nothing is lost and nothing is negative;
- otherwise the delta is the difference of the totals.

Which minute a delta belongs to: a sample collected at t closes the interval since the previous
sample, so its delta is traffic of the minute containing the instant just before t
(`minute_of`): a reading at 12:05:00 closes minute 12:04, one at 12:05:20 belongs to 12:05.
A window that ends at `until` therefore holds every sample of every minute before `until`.

A minute stays *open* while samples may still add to it, and is *closed* (emitted once, as a
`ClosedMinute`) when a sample of a later minute arrives or when `seal` is called for a horizon
the puller has fully read. A delta that would land in a minute already closed (an exporter
that published a sample late) goes to the minute after the last closed one: its bytes are
billed exactly once, a minute later than they happened.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

MINUTE = timedelta(minutes=1)
_JUST_BEFORE = timedelta(microseconds=1)


def minute_of(collected_at: datetime) -> datetime:
    """The minute whose traffic a reading taken at `collected_at` completes."""
    return (collected_at - _JUST_BEFORE).replace(second=0, microsecond=0)


@dataclass(slots=True)
class CounterState:
    last_uplink: int = 0
    last_downlink: int = 0
    last_seen_at: datetime | None = None
    open_minute: datetime | None = None
    open_uplink: int = 0
    open_downlink: int = 0
    sealed_through: datetime | None = None
    resets: int = 0
    open_tags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ClosedMinute:
    minute: datetime
    uplink: int
    downlink: int
    inbound_tags: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return self.uplink + self.downlink


@dataclass(frozen=True, slots=True)
class Step:
    """What one sample did: `minute` is the minute it counted toward (or would have)."""

    minute: datetime
    replayed: bool = False
    reset: bool = False
    closed: ClosedMinute | None = None


def observe(
    state: CounterState,
    *,
    collected_at: datetime,
    uplink_total: int,
    downlink_total: int,
    inbound_tags: Iterable[str] = (),
) -> Step:
    """Fold one sample into `state` (mutated in place)."""
    if uplink_total < 0 or downlink_total < 0:
        raise ValueError("Counter totals are never negative.")
    if state.last_seen_at is not None and collected_at <= state.last_seen_at:
        return Step(minute=minute_of(collected_at), replayed=True)

    reset = False
    if state.last_seen_at is None:
        d_up, d_down = uplink_total, downlink_total
    elif uplink_total < state.last_uplink or downlink_total < state.last_downlink:
        reset = True
        state.resets += 1
        d_up, d_down = uplink_total, downlink_total
    else:
        d_up, d_down = uplink_total - state.last_uplink, downlink_total - state.last_downlink
    state.last_uplink, state.last_downlink, state.last_seen_at = uplink_total, downlink_total, collected_at

    minute = minute_of(collected_at)
    if state.sealed_through is not None and minute <= state.sealed_through:
        minute = state.sealed_through + MINUTE  # late: the next minute not yet closed
    closed = None
    if state.open_minute is not None:
        if minute > state.open_minute:
            closed = _close(state)
        else:
            minute = state.open_minute
    if d_up or d_down:
        if state.open_minute is None:
            state.open_minute = minute
        state.open_uplink += d_up
        state.open_downlink += d_down
        state.open_tags = state.open_tags.union(inbound_tags)
    return Step(minute=minute, reset=reset, closed=closed)


def seal(state: CounterState, *, before: datetime) -> ClosedMinute | None:
    """Close the open minute if it lies before `before` (every sample of it has been read)."""
    if state.open_minute is not None and state.open_minute < before:
        return _close(state)
    return None


def _close(state: CounterState) -> ClosedMinute:
    closed = ClosedMinute(
        minute=state.open_minute,
        uplink=state.open_uplink,
        downlink=state.open_downlink,
        inbound_tags=tuple(sorted(state.open_tags)),
    )
    state.sealed_through = state.open_minute
    state.open_minute = None
    state.open_uplink = state.open_downlink = 0
    state.open_tags = frozenset()
    return closed


@dataclass(slots=True)
class AggregatedSample:
    """One account in one snapshot: totals summed over its inbound tags."""

    uplink_total: int
    downlink_total: int
    email: str
    inbound_tags: tuple[str, ...]


def aggregate_samples(samples: Iterable[tuple[str, str, str, int, int]]) -> dict[str, AggregatedSample]:
    """(uuid, email, inbound tag, uplink total, downlink total) rows of one snapshot → per uuid.

    A (uuid, tag) pair listed twice counts once (the last row wins): the totals are cumulative,
    so adding a duplicate would double them.
    """
    per_tag: dict[str, dict[str, tuple[int, int]]] = {}
    emails: dict[str, str] = {}
    for account_uuid, email, tag, uplink, downlink in samples:
        per_tag.setdefault(account_uuid, {})[tag] = (uplink, downlink)
        if email or account_uuid not in emails:
            emails[account_uuid] = email
    result = {}
    for account_uuid, tags in per_tag.items():
        result[account_uuid] = AggregatedSample(
            uplink_total=sum(up for up, _ in tags.values()),
            downlink_total=sum(down for _, down in tags.values()),
            email=emails[account_uuid],
            inbound_tags=tuple(sorted(tags)),
        )
    return result
