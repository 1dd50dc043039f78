"""Balances at a cutline, as the API and the admin show them (see `computation` for how)."""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from core.money import ZERO
from credits.engine import RolloverChildId
from credits.selectors.computation import (
    GrantRow,
    LedgerComputation,
    consistent_read,
    cutline,
    engine_feature_key,
    grant_engine_key,
    ledger_and_snapshot,
    ledger_compute,
    public_feature_key,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GrantBalance:
    grant: GrantRow
    balance: Decimal


@dataclass(frozen=True)
class FeatureBalance:
    key: str
    balance: Decimal
    usage: Decimal
    overage: Decimal


@dataclass(frozen=True)
class LedgerBalance:
    """A ledger at a cutline. Totals add the features up (their units may differ: a meter
    feature counts meter units, the `credits` feature credits); `features` has each one."""

    attribution_id: str
    at: datetime
    period_start: datetime | None
    grants: list[GrantBalance]
    features: dict[str, FeatureBalance]
    usage_queries: int = field(default=0, compare=False)

    @property
    def balance(self) -> Decimal:
        return sum((g.balance for g in self.grants), ZERO)

    @property
    def usage(self) -> Decimal:
        return sum((f.usage for f in self.features.values()), ZERO)

    @property
    def overage(self) -> Decimal:
        return sum((f.overage for f in self.features.values()), ZERO)


def _as_balance(computation: LedgerComputation) -> LedgerBalance:
    created = [c for c in computation.result.rollover_children if isinstance(c.id, RolloverChildId)]
    if created:
        logger.warning(
            "Ledger %s: a read created %d rollover children a reset should have stored.",
            computation.attribution_id,
            len(created),
        )
    grants = [GrantBalance(grant=g, balance=computation.balance_of(g)) for g in computation.period_grants]
    features = {}
    period_usage = computation.period_usage
    for feature in computation.features:
        features[public_feature_key(feature)] = FeatureBalance(
            key=public_feature_key(feature),
            balance=sum((gb.balance for gb in grants if grant_engine_key(gb.grant) == feature), ZERO),
            usage=period_usage[feature],
            overage=computation.result.overage.get(feature, ZERO),
        )
    return LedgerBalance(
        attribution_id=computation.attribution_id,
        at=computation.at,
        period_start=computation.period_start,
        grants=grants,
        features=features,
        usage_queries=computation.usage_queries,
    )


def ledger_balance(*, attribution_id: str, at: datetime) -> LedgerBalance:
    """GET …/balance: per-grant and per-feature balances, usage in the period, overage at `at`.

    `at` is rounded up to the whole minute (`cutline`). An attribution without a ledger has no
    grants: all its usage is overage.
    """
    at = cutline(at)
    with consistent_read():
        ledger, snapshot = ledger_and_snapshot(attribution_id, at)
        computation = ledger_compute(attribution_id=attribution_id, ledger=ledger, at=at, snapshot=snapshot)
    return _as_balance(computation)


def feature_balance(
    *, attribution_id: str, feature_key: str | None, meter_slug: str, at: datetime
) -> FeatureBalance:
    """One feature of a ledger at `at` (rounded up to the minute): what an entitlement reads."""
    feature = engine_feature_key(feature_key)
    at = cutline(at)
    with consistent_read():
        ledger, snapshot = ledger_and_snapshot(attribution_id, at)
        computation = ledger_compute(
            attribution_id=attribution_id,
            ledger=ledger,
            at=at,
            snapshot=snapshot,
            features=[feature],
            meter_slugs={feature: meter_slug},
        )
    return _as_balance(computation).features[public_feature_key(feature)]
