"""Entitlement checks: may this attribution use this feature right now?"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.errors import NotFound
from credits.models import GENERIC_FEATURE_KEY, Feature
from credits.selectors.balances import feature_balance
from credits.selectors.computation import cutline
from credits.selectors.coverage import billable_credits
from usage import selectors as usage_selectors


@dataclass(frozen=True)
class EntitlementValue:
    attribution_id: str
    feature_key: str
    at: datetime
    has_access: bool
    unit: str
    """What balance, usage and overage count: `credits`, or the feature's meter unit."""
    balance: Decimal
    usage: Decimal
    overage: Decimal


def spending_limit_reached(*, attribution_id: str, cost_center) -> bool:
    """Have the cycle's billable credits (usage balance minus what grants covered since the
    cycle start) reached the cost center's effective limit (finance's spending limit, or the
    team's lower budget)? An attribution without a cost center is held to the default limit its
    cost center will be created with."""
    from django.utils import timezone

    if cost_center is not None:
        limit = usage_selectors.effective_spending_limit(cost_center)
    else:
        limit = usage_selectors.default_spending_limit()
    return billable_credits(attribution_id=attribution_id, now=timezone.now()) >= limit


def access_granted(*, attribution_id: str, feature_balance_left: Decimal) -> bool:
    """No access while the cost center is blocked; otherwise access while the feature's grants
    have credit left or the spending limit is not reached yet."""
    cost_center = usage_selectors.cost_center_get(attribution_id=attribution_id)
    if cost_center is not None and cost_center.blocked_at is not None:
        return False
    if feature_balance_left > 0:
        return True
    return not spending_limit_reached(attribution_id=attribution_id, cost_center=cost_center)


def entitlement_value(*, attribution_id: str, feature_key: str, at: datetime) -> EntitlementValue:
    """GET /entitlements/<attribution>/<feature>: has_access, balance, usage, overage at `at`,
    all three in the feature's unit (meter units for a feature on a meter, else credits).

    `credits` names rated usage credits (grants without a feature) even without a Feature row;
    any other key must be a feature (404 otherwise). An archived feature still answers: its
    grants keep paying until they end.
    """
    if feature_key == GENERIC_FEATURE_KEY:
        meter_slug = GENERIC_FEATURE_KEY
    else:
        feature = Feature.objects.filter(key=feature_key).first()
        if feature is None:
            raise NotFound(f"There is no feature {feature_key!r}.", code="feature_not_found")
        meter_slug = feature.meter_slug
    value = feature_balance(
        attribution_id=attribution_id, feature_key=feature_key, meter_slug=meter_slug, at=at
    )
    return EntitlementValue(
        attribution_id=attribution_id,
        feature_key=feature_key,
        at=cutline(at),
        has_access=access_granted(attribution_id=attribution_id, feature_balance_left=value.balance),
        unit=value.unit,
        balance=value.balance,
        usage=value.usage,
        overage=value.overage,
    )
