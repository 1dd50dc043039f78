"""core.months: month-end clamping and the cycle advance, by example and with Hypothesis."""

import calendar
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from core.months import add_months, cycle_advance

anchors = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))
month_counts = st.integers(min_value=0, max_value=240)


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def test_month_ends_clamp_and_come_back():
    jan_31 = datetime(2027, 1, 31, 9, 30, tzinfo=UTC)
    assert add_months(jan_31, 1) == datetime(2027, 2, 28, 9, 30, tzinfo=UTC)
    assert add_months(jan_31, 2) == datetime(2027, 3, 31, 9, 30, tzinfo=UTC)
    assert add_months(datetime(2028, 1, 31, tzinfo=UTC), 1) == datetime(2028, 2, 29, tzinfo=UTC)
    assert add_months(jan_31, -2) == datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    assert add_months(jan_31, 12) == datetime(2028, 1, 31, 9, 30, tzinfo=UTC)


@given(anchors, month_counts)
def test_the_anchor_day_is_kept_wherever_the_month_has_it(anchor, months):
    moved = add_months(anchor, months)
    assert (moved.year * 12 + moved.month) - (anchor.year * 12 + anchor.month) == months
    assert moved.day == min(anchor.day, _last_day(moved.year, moved.month))
    assert (moved.hour, moved.minute, moved.second, moved.microsecond, moved.tzinfo) == (
        anchor.hour,
        anchor.minute,
        anchor.second,
        anchor.microsecond,
        anchor.tzinfo,
    )


@given(anchors, month_counts, month_counts)
def test_months_counted_from_the_anchor_add_up(anchor, first, second):
    assert add_months(add_months(anchor, first), -first).day <= anchor.day
    assert add_months(anchor, first + second) == add_months(anchor, second + first)


@given(anchors, st.integers(min_value=1, max_value=120))
def test_one_advance_over_n_months_is_n_single_steps_from_the_anchor(anchor, months):
    """A cycle closed late (n months due at once) lands where closing it every month would have,
    each step counted from the anchor, so a 31st stays a 31st wherever the month has one."""
    just_before_due = add_months(anchor, months + 1) - timedelta(microseconds=1)
    late = cycle_advance(anchor, just_before_due)
    assert (late.months, late.start, late.next_billing_time) == (
        months,
        add_months(anchor, months),
        add_months(anchor, months + 1),
    )
    for step in range(1, months + 1):
        single = cycle_advance(anchor, add_months(anchor, step + 1) - timedelta(microseconds=1))
        assert single.start == add_months(anchor, step)
        assert single.start.day == min(anchor.day, _last_day(single.start.year, single.start.month))


@given(anchors, st.integers(min_value=0, max_value=60 * 24 * 3600 * 12))
def test_the_new_cycle_has_begun_and_ends_after_now(anchor, seconds_later):
    now = anchor + timedelta(seconds=seconds_later)
    advance = cycle_advance(anchor, now)
    assert advance.months >= 1
    assert advance.start > anchor
    assert advance.next_billing_time > now
    assert advance.start <= now or advance.months == 1
