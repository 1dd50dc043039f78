"""The pricer, as worked examples at the default 1/6 credit per minute (10 credits an hour)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usage.tests.factories import NOON
from usage.workspace_pricing import DEFAULT_CREDITS_PER_MINUTE, Pricer, credits_for_seconds, runtime_seconds

SIXTH = DEFAULT_CREDITS_PER_MINUTE
pricer = Pricer({"g1-standard": Decimal("0.166666666666667"), "g1-large": Decimal("0.333333333333333")})


@pytest.mark.parametrize(
    ("seconds", "credits"),
    [(0, "0"), (1, "0.002778"), (60, "0.166667"), (90, "0.25"), (360, "1"), (3600, "10")],
)
def test_credits_for_runtime_at_one_sixth_per_minute(seconds, credits):
    assert credits_for_seconds(credits_per_minute=SIXTH, seconds=seconds) == Decimal(credits)
    # The stored class rate (15 places) gives the same credits.
    assert credits_for_seconds(credits_per_minute=Decimal("0.166666666666667"), seconds=seconds) == Decimal(
        credits
    )


def test_started_noon_stopping_1206_costs_one_credit():
    credits = pricer.credits(
        workspace_class="g1-standard",
        started_at=NOON,
        stopping_time=NOON + timedelta(minutes=6),
        stopped_time=NOON + timedelta(minutes=7),
        now=NOON + timedelta(hours=5),
    )
    assert credits == Decimal("1.000000")


def test_running_since_noon_at_1212_costs_two_credits():
    credits = pricer.credits(
        workspace_class="g1-standard",
        started_at=NOON,
        stopping_time=None,
        stopped_time=None,
        now=NOON + timedelta(minutes=12),
    )
    assert credits == Decimal("2.000000")


def test_stopped_time_counts_when_there_is_no_stopping_time():
    credits = pricer.credits(
        workspace_class="g1-large",
        started_at=NOON,
        stopping_time=None,
        stopped_time=NOON + timedelta(minutes=3),
        now=NOON + timedelta(hours=1),
    )
    assert credits == Decimal("1.000000")  # 3 minutes at 1/3


def test_a_stop_before_the_start_costs_nothing():
    assert runtime_seconds(started_at=NOON, end=NOON - timedelta(minutes=5)) == 0
    credits = pricer.credits(
        workspace_class="g1-standard",
        started_at=NOON,
        stopping_time=NOON - timedelta(seconds=1),
        stopped_time=None,
        now=NOON,
    )
    assert credits == Decimal("0")


@pytest.mark.parametrize(
    ("elapsed", "seconds"),
    [
        (timedelta(milliseconds=499), 0),
        (timedelta(milliseconds=500), 1),
        (timedelta(seconds=59, milliseconds=501), 60),
        (timedelta(seconds=90, microseconds=499_999), 90),
    ],
)
def test_runtime_rounds_to_the_nearest_whole_second(elapsed, seconds):
    assert runtime_seconds(started_at=NOON, end=NOON + elapsed) == seconds


def test_unknown_classes_fall_back_to_one_sixth_and_log(caplog):
    credits = pricer.credits(
        workspace_class="gpu-xl",
        started_at=NOON,
        stopping_time=NOON + timedelta(hours=1),
        stopped_time=None,
        now=NOON,
    )
    assert credits == Decimal("10.000000")
    assert "Unknown workspace class 'gpu-xl'" in caplog.text


@given(st.integers(min_value=0, max_value=10 * 365 * 24 * 3600))
def test_the_charge_is_rounded_once_from_the_whole_runtime(seconds):
    credits = credits_for_seconds(credits_per_minute=SIXTH, seconds=seconds)
    exact = Decimal(seconds) / Decimal(360)  # 1/6 per minute = 1/360 per second
    assert abs(credits - exact) <= Decimal("0.0000005")
    assert credits.as_tuple().exponent == -6


@given(st.integers(min_value=0, max_value=10**7), st.integers(min_value=0, max_value=10**7))
def test_longer_runtime_never_costs_less(a, b):
    low, high = sorted((a, b))
    assert credits_for_seconds(credits_per_minute=SIXTH, seconds=low) <= credits_for_seconds(
        credits_per_minute=SIXTH, seconds=high
    )
