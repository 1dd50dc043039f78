"""Whatever the order of grants, voids, resets, usage and snapshots, a balance read from the
snapshots equals the same balance computed from the beginning of the ledger."""

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import ApplicationError
from credits.models import Feature, Ledger
from credits.selectors import engine_feature_key, ledger_balance, ledger_compute
from credits.services import balance_snapshot_save, grant_create, grant_void, ledger_reset
from credits.tests.factories import T0, rated_usage
from usage.tests.factories import new_attribution_id

pytestmark = pytest.mark.django_db

HOURS = 48
minutes = st.integers(0, HOURS * 60).map(lambda m: T0 + timedelta(minutes=m))
amounts = st.integers(1, 5000).map(lambda cents: Decimal(cents).scaleb(-2))

grant_ops = st.builds(
    lambda at, amount, priority, feature, expires, rollover: (
        "grant",
        at,
        {
            "amount": amount,
            "priority": priority,
            "feature_key": feature,
            "expiration_count": expires,
            "expiration_unit": "HOUR" if expires else None,
            "rollover_type": rollover,
        },
    ),
    minutes,
    amounts,
    st.integers(0, 3),
    st.sampled_from([None, "seats"]),
    st.one_of(st.none(), st.integers(1, 30)),
    st.sampled_from([None, "ORIGINAL_AMOUNT", "REMAINING_AMOUNT"]),
)
operations = st.lists(
    st.one_of(
        grant_ops,
        st.tuples(st.just("void"), minutes, st.integers(0, 9)),
        st.tuples(st.just("reset"), minutes, st.none()),
        st.tuples(st.just("snapshot"), minutes, st.none()),
    ),
    max_size=12,
)
usage_events = st.lists(st.tuples(minutes, amounts), max_size=10)


def from_scratch(who, at):
    ledger = Ledger.objects.filter(attribution_id=who).first()
    computation = ledger_compute(attribution_id=who, ledger=ledger, at=at, use_snapshot=False)
    return (
        {g.id: computation.balance_of(g) for g in computation.period_grants},
        {f: computation.result.overage[f] for f in computation.features},
        {f: computation.period_usage[f] for f in computation.features},
    )


def from_snapshots(who, at):
    balance = ledger_balance(attribution_id=who, at=at)
    return (
        {gb.grant.id: gb.balance for gb in balance.grants},
        {engine_feature_key(name): fb.overage for name, fb in balance.features.items()},
        {engine_feature_key(name): fb.usage for name, fb in balance.features.items()},
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=operations, usage=usage_events, cutlines=st.lists(minutes, min_size=1, max_size=3))
def test_snapshots_never_change_a_balance(operations, usage, cutlines):
    Feature.objects.get_or_create(key="seats", defaults={"name": "Seats", "meter_slug": "credits"})
    who = new_attribution_id()
    for at, amount in usage:
        rated_usage(who, amount, at)
    grants = []
    now = T0 + timedelta(hours=HOURS + 1)
    for kind, at, detail in operations:
        try:
            if kind == "grant":
                grants.append(grant_create(attribution_id=who, effective_at=at, now=now, **detail))
            elif kind == "void" and grants:
                grant_void(
                    attribution_id=who, grant_id=grants[detail % len(grants)].id, voided_at=at, now=now
                )
            elif kind == "reset":
                ledger_reset(attribution_id=who, effective_at=at, now=now)
            elif kind == "snapshot" and grants:
                balance_snapshot_save(ledger_id=grants[0].ledger_id, at=at, now=now)
        except ApplicationError:
            pass  # before the last reset, voided twice, ...: refused, nothing changed
    for cutline in [*cutlines, now]:
        assert from_snapshots(who, cutline) == from_scratch(who, cutline)
