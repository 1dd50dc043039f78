"""Burn-down worked examples, then the properties that must hold for any ledger.

Every example books usage in the grants' feature unless it says otherwise; the usage reader sums
a list of (time, feature, amount) events with start <= time < end.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credits.engine import (
    ZERO,
    BalanceResult,
    ExpirationUnit,
    GrantSpec,
    ResetSpec,
    RolloverChildId,
    RolloverSpec,
    RolloverType,
    compute_balance,
    expiration_to_expires_at,
)

API_CALLS = "api_calls"
CREDITS = None  # a grant without a feature pays for the generic `credits` feature
T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def usage_from(events):
    def usage(feature, start, end):
        return sum((amount for at, f, amount in events if f == feature and start <= at < end), ZERO)

    return usage


def grant(grant_id, amount, *, feature=API_CALLS, priority=1, effective_at=T0, created_at=None, **extra):
    return GrantSpec(
        id=grant_id,
        feature_key=feature,
        amount=amount,
        priority=priority,
        effective_at=effective_at,
        created_at=created_at or effective_at,
        **extra,
    )


def burn(grants, events, *, start=T0, end=T0 + DAY, resets=(), **kwargs) -> BalanceResult:
    return compute_balance(
        grants=grants, resets=resets, usage=usage_from(events), start=start, end=end, **kwargs
    )


def used_by_grant(result: BalanceResult) -> dict:
    totals: dict = {}
    for segment in result.segments:
        for grant_id, paid in segment.grant_usage.items():
            totals[grant_id] = totals.get(grant_id, ZERO) + paid
    return totals


# --- Worked examples -------------------------------------------------------------------------


def test_lower_priority_number_burns_first():
    first_hundred = grant("first", Decimal(100), priority=1)
    second_hundred = grant("second", Decimal(100), priority=2)
    used = Decimal(120)

    result = burn([first_hundred, second_hundred], [(T0 + HOUR, API_CALLS, used)])

    assert result.balances == {"first": Decimal(0), "second": Decimal(80)}
    assert result.overage[API_CALLS] == 0


def test_at_equal_priority_the_sooner_expiring_grant_burns_first():
    expires_in_30_days = grant("soon", Decimal(100), expires_at=T0 + 30 * DAY, created_at=T0 + HOUR)
    expires_in_100_years = grant(
        "late", Decimal(100), expires_at=expiration_to_expires_at(T0, 100, ExpirationUnit.YEAR)
    )
    used = Decimal(120)

    result = burn([expires_in_100_years, expires_in_30_days], [(T0 + HOUR, API_CALLS, used)])

    assert result.balances == {"soon": Decimal(0), "late": Decimal(80)}


def test_without_grants_all_usage_is_overage():
    used = Decimal(50)

    result = burn([], [(T0 + HOUR, API_CALLS, used)], features=[API_CALLS])

    assert result.overage == {API_CALLS: Decimal(50)}
    assert result.usage_total == {API_CALLS: Decimal(50)}
    assert result.balances == {}


def test_a_grant_starting_later_pays_down_earlier_overage():
    starts_at = T0 + 2 * HOUR
    hundred = grant("topup", Decimal(100), effective_at=starts_at)
    before, after = Decimal(25), Decimal(25)

    result = burn([hundred], [(starts_at - HOUR, API_CALLS, before), (starts_at + HOUR, API_CALLS, after)])

    assert result.balances == {"topup": Decimal(50)}
    assert result.overage[API_CALLS] == 0
    assert [s.overage[API_CALLS] for s in result.segments] == [Decimal(25), Decimal(0)]


def test_a_voided_grant_stops_paying_at_the_void():
    voided_at = T0 + HOUR
    hundred = grant("voided", Decimal(100), voided_at=voided_at)
    before, after = Decimal(50), Decimal(50)

    result = burn(
        [hundred],
        [(voided_at - 30 * timedelta(minutes=1), API_CALLS, before), (voided_at + HOUR, API_CALLS, after)],
    )

    assert used_by_grant(result) == {"voided": Decimal(50)}
    assert result.balances == {"voided": Decimal(0)}
    assert result.overage[API_CALLS] == Decimal(50)


def test_an_expired_grant_pays_nothing_after_its_expiry():
    hundred = grant("expiring", Decimal(100), expires_at=T0 + 2 * HOUR)
    at_one_hour, at_three_hours = Decimal(10), Decimal(10)

    result = burn(
        [hundred], [(T0 + HOUR, API_CALLS, at_one_hour), (T0 + 3 * HOUR, API_CALLS, at_three_hours)]
    )

    assert used_by_grant(result) == {"expiring": Decimal(10)}
    assert result.balances == {"expiring": Decimal(0)}
    assert result.overage[API_CALLS] == Decimal(10)


def test_a_small_first_grant_is_emptied_before_the_next_is_touched():
    ten = grant("ten", Decimal(10), priority=1)
    hundred = grant("hundred", Decimal(100), priority=2)
    used = Decimal(20)

    result = burn([hundred, ten], [(T0 + HOUR, API_CALLS, used)])

    assert result.balances == {"ten": Decimal(0), "hundred": Decimal(90)}


def test_remaining_amount_rollover_is_capped_at_its_maximum():
    reset_at = T0 + DAY
    hundred = grant(
        "monthly",
        Decimal(100),
        rollover=RolloverSpec(RolloverType.REMAINING_AMOUNT, max_amount=Decimal(50)),
    )
    used = Decimal(10)  # 90 remain, more than the 50 that may roll over

    result = burn([hundred], [(T0 + HOUR, API_CALLS, used)], resets=[ResetSpec(reset_at)], end=reset_at + DAY)

    [child] = result.rollover_children
    assert (child.parent_id, child.amount, child.effective_at) == ("monthly", Decimal(50), reset_at)
    assert child.id == RolloverChildId("monthly", reset_at)
    assert result.balances == {"monthly": Decimal(0), child.id: Decimal(50)}


def test_original_amount_rollover_restores_the_full_grant():
    reset_at = T0 + DAY
    hundred = grant("monthly", Decimal(100), rollover=RolloverSpec(RolloverType.ORIGINAL_AMOUNT))
    used = Decimal(70)

    result = burn([hundred], [(T0 + HOUR, API_CALLS, used)], resets=[ResetSpec(reset_at)], end=reset_at)

    [child] = result.rollover_children
    assert child.amount == Decimal(100)
    assert result.balances == {"monthly": Decimal(0), child.id: Decimal(100)}


@pytest.mark.parametrize(
    ("year", "last_day_of_february"),
    [(2023, 28), (2024, 29)],
)
def test_a_month_after_january_31st_is_the_last_day_of_february(year, last_day_of_february):
    effective_at = datetime(year, 1, 31, 10, 30, tzinfo=UTC)

    expires_at = expiration_to_expires_at(effective_at, 1, ExpirationUnit.MONTH)

    assert expires_at == datetime(year, 2, last_day_of_february, 10, 30, tzinfo=UTC)


# --- More rules --------------------------------------------------------------------------------


def test_expiration_units():
    start = datetime(2024, 2, 29, 8, 0, tzinfo=UTC)
    assert expiration_to_expires_at(start, 3, "HOUR") == start + 3 * HOUR
    assert expiration_to_expires_at(start, 2, ExpirationUnit.DAY) == start + 2 * DAY
    assert expiration_to_expires_at(start, 1, ExpirationUnit.WEEK) == start + 7 * DAY
    assert expiration_to_expires_at(start, 13, ExpirationUnit.MONTH) == datetime(2025, 3, 29, 8, tzinfo=UTC)
    assert expiration_to_expires_at(start, 1, ExpirationUnit.YEAR) == datetime(2025, 2, 28, 8, tzinfo=UTC)
    with pytest.raises(ValueError):
        expiration_to_expires_at(start, 0, ExpirationUnit.DAY)


def test_ties_are_broken_by_creation_then_id():
    older = grant("b-older", Decimal(10), created_at=T0 - DAY)
    newer_a = grant("a-newer", Decimal(10))
    newer_b = grant("b-newer", Decimal(10))

    result = burn([newer_b, newer_a, older], [(T0 + HOUR, API_CALLS, Decimal(15))])

    assert result.balances == {"b-newer": Decimal(10), "a-newer": Decimal(5), "b-older": Decimal(0)}


def test_a_grant_pays_only_for_its_own_feature():
    api_grant = grant("api", Decimal(100), feature=API_CALLS)
    credits_grant = grant("credits", Decimal(100), feature=CREDITS)

    result = burn([api_grant, credits_grant], [(T0 + HOUR, CREDITS, Decimal(130))])

    assert result.balances == {"api": Decimal(100), "credits": Decimal(0)}
    assert result.overage == {API_CALLS: Decimal(0), CREDITS: Decimal(30)}


def test_times_are_truncated_to_the_minute():
    starts_late_in_the_minute = grant("g", Decimal(100), effective_at=T0 + HOUR + timedelta(seconds=45))
    used_early_in_that_minute = (T0 + HOUR + timedelta(seconds=10), API_CALLS, Decimal(5))

    result = burn([starts_late_in_the_minute], [used_early_in_that_minute], start=T0 + timedelta(seconds=30))

    assert result.start == T0
    assert result.segments[1].start == T0 + HOUR
    assert result.balances == {"g": Decimal(95)}


def test_phases_split_at_starts_expiries_and_voids():
    early = grant("early", Decimal(10), expires_at=T0 + 2 * HOUR)
    late = grant("late", Decimal(10), effective_at=T0 + HOUR, voided_at=T0 + 3 * HOUR)

    result = burn(
        [early, late], [(T0 + 90 * timedelta(minutes=1), API_CALLS, Decimal(15))], end=T0 + 4 * HOUR
    )

    assert [(s.start, s.end) for s in result.segments] == [
        (T0, T0 + HOUR),
        (T0 + HOUR, T0 + 2 * HOUR),
        (T0 + 2 * HOUR, T0 + 3 * HOUR),
        (T0 + 3 * HOUR, T0 + 4 * HOUR),
    ]
    assert result.segments[1].grant_usage == {"early": Decimal(10), "late": Decimal(5)}
    assert result.balances == {"early": Decimal(0), "late": Decimal(0)}


def test_a_reset_drops_overage_and_ends_grants_without_rollover():
    reset_at = T0 + DAY
    plain = grant("plain", Decimal(10))
    events = [(T0 + HOUR, API_CALLS, Decimal(25)), (reset_at + HOUR, API_CALLS, Decimal(4))]

    result = burn([plain], events, resets=[ResetSpec(reset_at)], end=reset_at + DAY)

    assert result.rollover_children == []
    assert result.dropped_overage == {API_CALLS: Decimal(15)}
    assert result.overage == {API_CALLS: Decimal(4)}
    assert result.balances == {"plain": Decimal(0)}


def test_rollover_minimum_and_empty_children():
    reset_at = T0 + DAY
    spent_with_floor = grant(
        "floor", Decimal(10), rollover=RolloverSpec(RolloverType.REMAINING_AMOUNT, min_amount=Decimal(3))
    )
    spent_without_floor = grant(
        "nofloor", Decimal(10), priority=2, rollover=RolloverSpec(RolloverType.REMAINING_AMOUNT)
    )
    expires_at_reset = grant(
        "expired", Decimal(10), feature=CREDITS, expires_at=reset_at, rollover=RolloverSpec("ORIGINAL_AMOUNT")
    )

    result = burn(
        [spent_with_floor, spent_without_floor, expires_at_reset],
        [(T0 + HOUR, API_CALLS, Decimal(20))],
        resets=[ResetSpec(reset_at)],
        end=reset_at,
    )

    assert [(c.parent_id, c.amount) for c in result.rollover_children] == [("floor", Decimal(3))]


def test_a_stored_child_is_not_created_twice():
    reset_at = T0 + DAY
    parent = grant("parent", Decimal(100), rollover=RolloverSpec(RolloverType.ORIGINAL_AMOUNT))
    stored_child = grant("child-row-7", Decimal(100), effective_at=reset_at, parent_id="parent")

    result = burn([parent, stored_child], [], resets=[ResetSpec(reset_at)], end=reset_at + HOUR)

    assert result.rollover_children == []
    assert result.balances == {"parent": Decimal(0), "child-row-7": Decimal(100)}


def test_a_reset_at_the_period_end_is_applied_and_one_at_its_start_is_not():
    reset_at = T0 + DAY
    hundred = grant("g", Decimal(100), rollover=RolloverSpec(RolloverType.REMAINING_AMOUNT))
    events = [(T0 + HOUR, API_CALLS, Decimal(40))]

    up_to_reset = burn([hundred], events, resets=[ResetSpec(reset_at)], end=reset_at)
    [child] = up_to_reset.rollover_children
    from_reset = burn(
        [hundred, child],
        events,
        resets=[ResetSpec(reset_at)],
        start=reset_at,
        end=reset_at + DAY,
        starting_balances=up_to_reset.balances,
        starting_overage=up_to_reset.overage,
    )

    assert up_to_reset.balances == {"g": Decimal(0), child.id: Decimal(60)}
    assert from_reset.rollover_children == []
    assert from_reset.balances == {"g": Decimal(0), child.id: Decimal(60)}


@pytest.mark.parametrize(
    "make",
    [
        lambda: grant("g", 100.0),
        lambda: grant("g", 100),  # an int is not money either: amounts arrive as Decimal
        lambda: RolloverSpec(RolloverType.REMAINING_AMOUNT, max_amount=5.0),
        lambda: burn([], [], starting_overage={API_CALLS: 1.5}),
        lambda: burn([grant("g", Decimal(1))], [], starting_balances={"g": 0.5}),
        lambda: compute_balance(
            grants=[], resets=[], usage=lambda *_: 1.0, start=T0, end=T0 + HOUR, features=[None]
        ),
    ],
)
def test_money_is_decimal_only_and_a_float_is_refused(make):
    with pytest.raises(TypeError, match="Decimal"):
        make()


@pytest.mark.parametrize(
    "make",
    [
        lambda: grant("g", Decimal(0)),
        lambda: grant("g", Decimal(1), priority=256),
        lambda: grant("g", Decimal(1), expires_at=T0),
        lambda: grant("g", Decimal(1), effective_at=datetime(2024, 1, 1)),
        lambda: RolloverSpec(RolloverType.ORIGINAL_AMOUNT, max_amount=Decimal(1), min_amount=Decimal(2)),
        lambda: burn([grant("g", Decimal(1))], [], starting_balances={"g": Decimal(2)}),
        lambda: burn([], [], start=T0 + HOUR, end=T0),
    ],
)
def test_invalid_inputs_are_refused(make):
    with pytest.raises(ValueError):
        make()


# --- Properties --------------------------------------------------------------------------------

FEATURES = [API_CALLS, CREDITS]
PERIOD_SECONDS = 12 * 3600
END = T0 + timedelta(seconds=PERIOD_SECONDS)

instants = st.integers(0, PERIOD_SECONDS).map(lambda s: T0 + timedelta(seconds=s))
amounts = st.integers(1, 20_000).map(lambda cents: Decimal(cents).scaleb(-2))
rollovers = st.one_of(
    st.none(),
    st.builds(
        lambda kind, bounds: RolloverSpec(kind, max_amount=bounds[1], min_amount=bounds[0]),
        st.sampled_from(RolloverType),
        st.tuples(st.one_of(st.none(), amounts), st.one_of(st.none(), amounts)).map(
            lambda b: tuple(sorted(b)) if None not in b else b
        ),
    ),
)


@st.composite
def grant_specs(draw, grant_id):
    effective_at = draw(instants)
    lifetime = draw(st.one_of(st.none(), st.integers(1, PERIOD_SECONDS)))
    return GrantSpec(
        id=grant_id,
        feature_key=draw(st.sampled_from(FEATURES)),
        amount=draw(amounts),
        priority=draw(st.integers(0, 2)),
        effective_at=effective_at,
        created_at=draw(instants),
        expires_at=None if lifetime is None else effective_at + timedelta(seconds=lifetime),
        voided_at=draw(st.one_of(st.none(), instants)),
        rollover=draw(rollovers),
    )


@st.composite
def ledgers(draw, max_resets=2):
    count = draw(st.integers(0, 4))
    grants = [draw(grant_specs(f"g{i}")) for i in range(count)]
    events = draw(st.lists(st.tuples(instants, st.sampled_from(FEATURES), amounts), max_size=8))
    resets = [ResetSpec(at) for at in draw(st.lists(instants, max_size=max_resets))]
    return grants, events, resets


def run(grants, events, resets, *, start=T0, end=END, **kwargs) -> BalanceResult:
    return burn(grants, events, start=start, end=end, resets=resets, features=FEATURES, **kwargs)


def feature_of(result: BalanceResult, grants) -> dict:
    return {g.id: g.feature_key for g in [*grants, *result.rollover_children]}


def continue_from(previous: BalanceResult, grants, events, resets, *, end) -> BalanceResult:
    return run(
        [*grants, *previous.rollover_children],
        events,
        resets,
        start=previous.end,
        end=end,
        starting_balances=previous.balances,
        starting_overage=previous.overage,
    )


@settings(max_examples=150, deadline=None)
@given(ledgers(max_resets=0))
def test_without_resets_grant_usage_plus_overage_is_total_usage(ledger):
    grants, events, resets = ledger
    result = run(grants, events, resets)

    features = feature_of(result, grants)
    for feature in FEATURES:
        paid_by_grants = sum((v for k, v in used_by_grant(result).items() if features[k] == feature), ZERO)
        assert paid_by_grants + result.overage[feature] == result.usage_total[feature]


@settings(max_examples=150, deadline=None)
@given(ledgers())
def test_every_unit_of_usage_is_paid_owed_or_written_off_exactly_once(ledger):
    grants, events, resets = ledger
    result = run(grants, events, resets)

    features = feature_of(result, grants)
    for feature in FEATURES:
        paid_by_grants = sum((v for k, v in used_by_grant(result).items() if features[k] == feature), ZERO)
        accounted = paid_by_grants + result.overage[feature] + result.dropped_overage[feature]
        assert accounted == result.usage_total[feature]
        assert result.usage_total[feature] == sum(
            (a for at, f, a in events if f == feature and at < END), ZERO
        )


@settings(max_examples=150, deadline=None)
@given(ledgers())
def test_balances_stay_between_zero_and_the_grant_amount(ledger):
    grants, events, resets = ledger
    result = run(grants, events, resets)

    amounts_by_id = {g.id: g.amount for g in [*grants, *result.rollover_children]}
    for grant_id, balance in result.balances.items():
        assert ZERO <= balance <= amounts_by_id[grant_id]
    for grant_id, paid in used_by_grant(result).items():
        assert ZERO < paid <= amounts_by_id[grant_id]


def assert_same_outcome(whole: BalanceResult, parts: list[BalanceResult]) -> None:
    last = parts[-1]
    assert last.balances == whole.balances
    assert last.overage == whole.overage
    assert [c for part in parts for c in part.rollover_children] == whole.rollover_children
    for feature in FEATURES:
        assert sum((p.usage_total[feature] for p in parts), ZERO) == whole.usage_total[feature]
        assert sum((p.dropped_overage[feature] for p in parts), ZERO) == whole.dropped_overage[feature]
    paid_in_parts: dict = {}
    for part in parts:
        for grant_id, paid in used_by_grant(part).items():
            paid_in_parts[grant_id] = paid_in_parts.get(grant_id, ZERO) + paid
    assert paid_in_parts == used_by_grant(whole)


@settings(max_examples=150, deadline=None)
@given(ledgers(), instants)
def test_splitting_the_period_at_any_instant_changes_nothing(ledger, split_at):
    grants, events, resets = ledger

    whole = run(grants, events, resets)
    first = run(grants, events, resets, end=split_at)
    second = continue_from(first, grants, events, resets, end=END)

    assert_same_outcome(whole, [first, second])


@settings(max_examples=100, deadline=None)
@given(ledgers(), st.lists(instants, min_size=1, max_size=4))
def test_a_chain_of_snapshots_equals_computing_from_the_beginning(ledger, snapshot_times):
    grants, events, resets = ledger
    whole = run(grants, events, resets)

    parts = [run(grants, events, resets, end=min(snapshot_times))]
    for snapshot_end in [*sorted(snapshot_times)[1:], END]:
        queried = []
        counting = usage_from(events)

        def recording_usage(feature, start, end, counting=counting, queried=queried):
            queried.append(start)
            return counting(feature, start, end)

        previous = parts[-1]
        part = compute_balance(
            grants=[*grants, *(c for p in parts for c in p.rollover_children)],
            resets=resets,
            usage=recording_usage,
            start=previous.end,
            end=snapshot_end,
            starting_balances=previous.balances,
            starting_overage=previous.overage,
            features=FEATURES,
        )
        # Cost must not grow with history: a leg reads usage only after its snapshot.
        assert all(start >= previous.end for start in queried)
        parts.append(part)

    assert_same_outcome(whole, parts)


@settings(max_examples=150, deadline=None)
@given(ledgers(), grant_specs("extra"))
def test_granting_more_never_lowers_an_existing_balance(ledger, extra):
    grants, events, resets = ledger

    without_extra = run(grants, events, resets)
    with_extra = run([*grants, extra], events, resets)

    for grant_id, balance in without_extra.balances.items():
        assert with_extra.balances[grant_id] >= balance
    for feature in FEATURES:
        assert with_extra.overage[feature] <= without_extra.overage[feature]
