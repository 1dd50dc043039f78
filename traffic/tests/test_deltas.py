"""Counter deltas and traffic pricing: pure functions, examples and Hypothesis properties."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traffic.deltas import CounterState, aggregate_samples, minute_of, observe, seal
from traffic.pricing import Pricing, effective_multiplier, rate_minute

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(seconds=round(minutes * 60))


def test_a_reading_closes_the_minute_just_before_it():
    assert minute_of(at(5)) == at(4)  # 12:05:00 ends minute 12:04
    assert minute_of(at(5) + timedelta(microseconds=1)) == at(5)
    assert minute_of(at(5.5)) == at(5)


def test_first_sight_takes_the_whole_totals():
    state = CounterState()
    step = observe(state, collected_at=at(4.5), uplink_total=100, downlink_total=50)
    assert not step.replayed and step.closed is None
    closed = seal(state, before=at(5))
    assert (closed.minute, closed.uplink, closed.downlink, closed.total) == (at(4), 100, 50, 150)


def test_the_same_sample_again_is_a_replay_and_changes_nothing():
    state = CounterState()
    observe(state, collected_at=at(4.5), uplink_total=100, downlink_total=50)
    before = (state.last_uplink, state.last_downlink, state.open_uplink, state.open_downlink)
    step = observe(state, collected_at=at(4.5), uplink_total=100, downlink_total=50)
    older = observe(state, collected_at=at(3), uplink_total=10, downlink_total=5)
    assert step.replayed and older.replayed
    assert (state.last_uplink, state.last_downlink, state.open_uplink, state.open_downlink) == before


def test_totals_that_went_down_are_a_counter_reset_never_a_negative_delta():
    state = CounterState()
    observe(state, collected_at=at(3.5), uplink_total=1000, downlink_total=0)
    step = observe(state, collected_at=at(4.5), uplink_total=400, downlink_total=0)
    assert step.reset and state.resets == 1
    assert step.closed.total == 1000
    assert seal(state, before=at(5)).total == 400


def test_samples_of_one_minute_fold_into_one_closed_minute():
    state = CounterState()
    closed = []
    for second, total in ((15, 10), (30, 25), (45, 40), (60, 55), (75, 70)):
        step = observe(
            state, collected_at=T0 + timedelta(seconds=second), uplink_total=total, downlink_total=0
        )
        if step.closed:
            closed.append(step.closed)
    # 12:00:15..12:01:00 close minute 12:00 (55 bytes, first sight included); 12:01:15 opens 12:01.
    assert [(c.minute, c.total) for c in closed] == [(at(0), 55)]
    assert seal(state, before=at(2)).total == 15


def test_a_late_sample_for_a_closed_minute_counts_once_in_the_next_minute():
    state = CounterState()
    observe(state, collected_at=at(4.25), uplink_total=100, downlink_total=0)
    assert seal(state, before=at(5)).minute == at(4)
    step = observe(state, collected_at=at(4.75), uplink_total=130, downlink_total=0)
    assert step.minute == at(5)
    assert seal(state, before=at(6)).total == 30


def test_zero_delta_samples_open_nothing_but_close_what_is_open():
    state = CounterState()
    observe(state, collected_at=at(1.5), uplink_total=5, downlink_total=5)
    step = observe(state, collected_at=at(2.5), uplink_total=5, downlink_total=5)
    assert step.closed.total == 10
    assert state.open_minute is None
    assert seal(state, before=at(10)) is None


def test_inbound_tags_are_summed_per_uuid_and_a_repeated_tag_counts_once():
    rows = [
        ("u1", "a@example.com", "xhttp", 100, 10),
        ("u1", "", "tcp", 50, 5),
        ("u1", "", "tcp", 60, 6),  # the same (uuid, tag) again: the last one wins
        ("u2", "b@example.com", "xhttp", 7, 0),
    ]
    aggregated = aggregate_samples(rows)
    assert (aggregated["u1"].uplink_total, aggregated["u1"].downlink_total) == (160, 16)
    assert aggregated["u1"].email == "a@example.com"
    assert aggregated["u1"].inbound_tags == ("tcp", "xhttp")
    assert aggregated["u2"].uplink_total == 7


def test_negative_totals_are_refused():
    with pytest.raises(ValueError):
        observe(CounterState(), collected_at=at(1), uplink_total=-1, downlink_total=0)


# --- Property: whatever the order of delivery, replays, page splits and resets, the closed
# --- minutes add up to the true traffic exactly, each byte once.


@st.composite
def exporter_histories(draw):
    """Readings of one account: (time in seconds, uplink total, downlink total, true bytes added)."""
    count = draw(st.integers(min_value=1, max_value=40))
    gaps = draw(st.lists(st.integers(min_value=1, max_value=150), min_size=count, max_size=count))
    readings = []
    up = down = 0
    seconds = 0
    for index, gap in enumerate(gaps):
        seconds += gap
        add_up = draw(st.integers(min_value=0, max_value=10_000))
        add_down = draw(st.integers(min_value=0, max_value=10_000))
        restart = index > 0 and draw(st.booleans()) and draw(st.booleans())
        if restart and up > 0:
            up, down = 0, 0
            add_up = min(add_up, readings[-1][1] - 1) if readings[-1][1] > 0 else add_up
        elif restart:
            restart = False
        up += add_up
        down += add_down
        readings.append((seconds, up, down, add_up + add_down))
    return readings


@settings(max_examples=300, deadline=None)
@given(history=exporter_histories(), data=st.data())
def test_closed_minutes_add_up_to_the_true_traffic(history, data):
    # Deliver the readings in windows that overlap (replays) and end at arbitrary horizons,
    # sealing what lies before each horizon, as collect-and-rate does.
    state = CounterState()
    closed = []
    delivered = 0
    end = history[-1][0]
    horizon_second = 0
    while delivered < len(history):
        horizon_second = min(end + 60, horizon_second + data.draw(st.integers(min_value=30, max_value=400)))
        horizon = T0 + timedelta(seconds=horizon_second)
        overlap_from = max(0, delivered - data.draw(st.integers(min_value=0, max_value=5)))
        window = [r for r in history[overlap_from:] if T0 + timedelta(seconds=r[0]) <= horizon]
        for seconds, up, down, _ in window:
            step = observe(
                state, collected_at=T0 + timedelta(seconds=seconds), uplink_total=up, downlink_total=down
            )
            if step.closed:
                closed.append(step.closed)
        delivered = max(delivered, overlap_from + len(window))
        sealed = seal(state, before=horizon.replace(second=0))
        if sealed:
            closed.append(sealed)
    final = seal(state, before=T0 + timedelta(days=1))
    if final:
        closed.append(final)
    assert sum(c.total for c in closed) == sum(r[3] for r in history)
    minutes = [c.minute for c in closed]
    assert minutes == sorted(minutes) and len(set(minutes)) == len(minutes)  # each minute once


def test_worked_example_pricing_included_quota_first_then_price_times_multiplier():
    pricing = Pricing(
        included_quota_bytes=100, price_per_byte=Decimal("0.5"), region_multiplier=Decimal("2.4")
    )
    rated = rate_minute(total_bytes=150, remaining_quota=100, pricing=pricing)
    assert (rated.included_bytes, rated.chargeable_bytes, rated.remaining_quota_after) == (100, 50, 0)
    assert rated.credits == Decimal("60.000000")


def test_multipliers_of_zero_or_less_count_as_one():
    assert effective_multiplier(Decimal("0")) == 1
    assert effective_multiplier(Decimal("-3")) == 1
    assert effective_multiplier(None) == 1
    pricing = Pricing(
        included_quota_bytes=0,
        price_per_byte=Decimal("2"),
        region_multiplier=Decimal("0"),
        line_multiplier=Decimal("-1"),
    )
    assert rate_minute(total_bytes=3, remaining_quota=0, pricing=pricing).credits == Decimal("6.000000")


def test_rating_refuses_floats_and_rounds_once_half_even():
    pricing = Pricing(included_quota_bytes=0, price_per_byte=Decimal("0.0000005"))
    assert rate_minute(total_bytes=1, remaining_quota=0, pricing=pricing).credits == Decimal("0.000000")
    assert rate_minute(total_bytes=3, remaining_quota=0, pricing=pricing).credits == Decimal("0.000002")
    with pytest.raises(TypeError):
        rate_minute(total_bytes=1.0, remaining_quota=0, pricing=pricing)


@settings(max_examples=200, deadline=None)
@given(
    minutes=st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=30),
    quota=st.integers(min_value=0, max_value=10**13),
    price=st.decimals(min_value=0, max_value=1, places=15, allow_nan=False),
)
def test_quota_is_used_up_exactly_once_and_never_goes_negative(minutes, quota, price):
    pricing = Pricing(included_quota_bytes=quota, price_per_byte=price)
    remaining = quota
    included = chargeable = 0
    for total in minutes:
        rated = rate_minute(total_bytes=total, remaining_quota=remaining, pricing=pricing)
        assert rated.included_bytes + rated.chargeable_bytes == total
        assert 0 <= rated.remaining_quota_after <= remaining
        remaining = rated.remaining_quota_after
        included += rated.included_bytes
        chargeable += rated.chargeable_bytes
    assert included == min(quota, sum(minutes))
    assert chargeable == max(sum(minutes) - quota, 0)
