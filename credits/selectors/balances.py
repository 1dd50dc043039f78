"""Balances at a cutline, as the API and the admin show them (see `computation` for how).

Units never mix: a feature's figures are in its unit (a meter's units, or credits), and the
ledger's totals are credits only.
"""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from core.errors import ValidationFailed
from core.money import ZERO
from credits.engine import RolloverChildId
from credits.models import GENERIC_FEATURE_KEY, Feature
from credits.selectors.computation import (
    ORIGIN,
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
from usage import selectors as usage_selectors

logger = logging.getLogger(__name__)


CREDITS_UNIT = "credits"
"""The unit of rated usage credits: grants without a feature and features on the `credits` meter."""


def unit_name(meter_slug: str | None, meter_units: Mapping[str, str]) -> str:
    """The unit a feature on `meter_slug` counts in: `credits` for rated credits, else the
    meter's unit name, else (no such meter, or it names no unit) the meter's slug."""
    if meter_slug in (None, GENERIC_FEATURE_KEY):
        return CREDITS_UNIT
    return meter_units.get(meter_slug, meter_slug)


def feature_unit(*, meter_slug: str | None) -> str:
    """The unit of a feature on `meter_slug` (None: rated credits), read on its own."""
    return unit_name(meter_slug, _meter_units([meter_slug or GENERIC_FEATURE_KEY]))


@dataclass(frozen=True)
class GrantBalance:
    grant: GrantRow
    balance: Decimal
    unit: str = CREDITS_UNIT

    @property
    def in_credits(self) -> bool:
        return self.grant.meter_slug in (None, GENERIC_FEATURE_KEY)


@dataclass(frozen=True)
class FeatureBalance:
    """One feature at a cutline; every figure in `unit` (meter units or credits)."""

    key: str
    unit: str
    meter_slug: str
    balance: Decimal
    usage: Decimal
    overage: Decimal

    @property
    def in_credits(self) -> bool:
        return self.meter_slug == GENERIC_FEATURE_KEY


@dataclass(frozen=True)
class LedgerBalance:
    """A ledger at a cutline. The totals are credits only, never meter units: `balance` is what
    the grants in credits have left (no feature, or a feature on the `credits` meter), `usage`
    and `overage` are those of rated credits (the `credits` feature). `features` has every
    feature, each in its own unit."""

    attribution_id: str
    at: datetime
    period_start: datetime | None
    grants: list[GrantBalance]
    features: dict[str, FeatureBalance]
    usage_queries: int = field(default=0, compare=False)
    unit: str = CREDITS_UNIT

    @property
    def balance(self) -> Decimal:
        return sum((g.balance for g in self.grants if g.in_credits), ZERO)

    @property
    def usage(self) -> Decimal:
        return self.features[GENERIC_FEATURE_KEY].usage

    @property
    def overage(self) -> Decimal:
        return self.features[GENERIC_FEATURE_KEY].overage


def _used_without_grant(computation: LedgerComputation) -> dict[str, tuple[str, Decimal]]:
    """Features on a meter that the computation did not track (no grant in the period) but whose
    meter has usage in the period: feature key → (meter slug, units used). One small query of
    the features, one grouped SUM when there are candidates.

    Features on the `credits` meter are left out (their usage is the `credits` feature's, shown
    there), and so are archived ones (they take no new grants).
    """
    tracked = {public_feature_key(f) for f in computation.features}
    candidates = dict(
        Feature.objects.filter(archived_at__isnull=True)
        .exclude(meter_slug=GENERIC_FEATURE_KEY)
        .exclude(key__in=tracked)
        .values_list("key", "meter_slug")
    )
    if not candidates:
        return {}
    used = usage_selectors.meter_units_used_by_slug(
        attribution_id=computation.attribution_id,
        meter_slugs=candidates.values(),
        start=computation.period_start or ORIGIN,
        end=computation.at,
    )
    return {key: (slug, used[slug]) for key, slug in sorted(candidates.items()) if slug in used}


def _meter_units(slugs: Iterable[str]) -> dict[str, str]:
    meters = {slug for slug in slugs if slug != GENERIC_FEATURE_KEY}
    return usage_selectors.meter_unit_names(meter_slugs=meters) if meters else {}


def _as_balance(
    computation: LedgerComputation,
    *,
    used_without_grant: Mapping[str, tuple[str, Decimal]],
    meter_units: Mapping[str, str],
) -> LedgerBalance:
    created = [c for c in computation.result.rollover_children if isinstance(c.id, RolloverChildId)]
    if created:
        logger.warning(
            "Ledger %s: a read created %d rollover children a reset should have stored.",
            computation.attribution_id,
            len(created),
        )
    grants = [
        GrantBalance(grant=g, balance=computation.balance_of(g), unit=unit_name(g.meter_slug, meter_units))
        for g in computation.period_grants
    ]
    features = {}
    period_usage = computation.period_usage
    for feature in computation.features:
        meter_slug = computation.meter_slugs.get(feature, GENERIC_FEATURE_KEY)
        features[public_feature_key(feature)] = FeatureBalance(
            key=public_feature_key(feature),
            unit=unit_name(meter_slug, meter_units),
            meter_slug=meter_slug,
            balance=sum((gb.balance for gb in grants if grant_engine_key(gb.grant) == feature), ZERO),
            usage=period_usage[feature],
            overage=computation.result.overage.get(feature, ZERO),
        )
    for key, (meter_slug, used) in used_without_grant.items():
        # No grant in the period: nothing paid, all of it is owed, in the meter's units.
        features[key] = FeatureBalance(
            key=key,
            unit=unit_name(meter_slug, meter_units),
            meter_slug=meter_slug,
            balance=ZERO,
            usage=used,
            overage=used,
        )
    ordered = dict(sorted(features.items(), key=lambda item: (item[0] != GENERIC_FEATURE_KEY, item[0])))
    return LedgerBalance(
        attribution_id=computation.attribution_id,
        at=computation.at,
        period_start=computation.period_start,
        grants=grants,
        features=ordered,
        usage_queries=computation.usage_queries,
    )


def ledger_balance(*, attribution_id: str, at: datetime) -> LedgerBalance:
    """GET …/balance: per-grant and per-feature balances, usage in the period, overage at `at`.

    `at` is rounded up to the whole minute (`cutline`). An attribution without a ledger has no
    grants: all its usage is overage. Features listed: `credits`, every feature with a grant in
    the period, and every (unarchived) meter feature whose meter has usage in the period.
    A time before 1970 (where every ledger's history begins) is a 400.
    """
    if at < ORIGIN:
        raise ValidationFailed(
            "at must not be before 1970-01-01T00:00:00Z: no ledger has a balance before then.",
            code="invalid_time",
        )
    at = cutline(at)
    with consistent_read():
        ledger, snapshot = ledger_and_snapshot(attribution_id, at)
        computation = ledger_compute(attribution_id=attribution_id, ledger=ledger, at=at, snapshot=snapshot)
        used_without_grant = _used_without_grant(computation)
        meter_units = _meter_units(
            [*computation.meter_slugs.values(), *(slug for slug, _ in used_without_grant.values())]
        )
    return _as_balance(computation, used_without_grant=used_without_grant, meter_units=meter_units)


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
        meter_units = _meter_units([meter_slug])
    balance = _as_balance(computation, used_without_grant={}, meter_units=meter_units)
    return balance.features[public_feature_key(feature)]
