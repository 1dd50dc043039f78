"""Reads for auto-recharge: what paid-for credits a team has left, its settings and charges.

Reads only (tests/test_reads_never_write.py); the writes are in billing.services.recharges.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from billing.grant_kinds import PAID_FOR_KINDS, grant_kind
from billing.models import AutoRecharge, Recharge
from core.attribution import normalize_attribution_id
from core.money import ZERO
from credits.models import GENERIC_FEATURE_KEY, Grant
from credits.selectors import ledger_balance


def prepaid_credits_left(attribution_id: str, now: datetime) -> Decimal:
    """What the active prepaid and top-up grants on rated credits (no feature, or the generic
    `credits` feature) have left at `now`: the figure auto-recharge compares with its threshold.

    Promotional grants and allowances are left out: they are not what the team paid for, and
    a team that runs on free credits should not be charged because those run out. A grant is
    active when it has started and is neither expired nor voided at `now`.
    """
    attribution_id = normalize_attribution_id(attribution_id)
    balance = ledger_balance(attribution_id=attribution_id, at=now)
    candidates = [
        gb
        for gb in balance.grants
        if (gb.grant.feature_key or GENERIC_FEATURE_KEY) == GENERIC_FEATURE_KEY
        and gb.grant.effective_at <= now
        and (gb.grant.expires_at is None or gb.grant.expires_at > now)
        and (gb.grant.voided_at is None or gb.grant.voided_at > now)
    ]
    if not candidates:
        return ZERO
    ids = [gb.grant.id for gb in candidates]
    metadata = dict(Grant.objects.filter(id__in=ids).values_list("id", "metadata"))
    return sum(
        (
            gb.balance
            for gb in candidates
            if grant_kind(metadata.get(gb.grant.id) or {}, gb.grant.expires_at)[0] in PAID_FOR_KINDS
        ),
        ZERO,
    )


def auto_recharge_get(*, attribution_id: str) -> AutoRecharge | None:
    return AutoRecharge.objects.filter(attribution_id=normalize_attribution_id(attribution_id)).first()


def recharge_list(*, attribution_id: str) -> QuerySet[Recharge]:
    return Recharge.objects.filter(attribution_id=normalize_attribution_id(attribution_id)).order_by(
        "-created_at", "-id"
    )


def recharge_in_flight(*, attribution_id: str) -> Recharge | None:
    return recharge_list(attribution_id=attribution_id).filter(status__in=Recharge.IN_FLIGHT).first()


def enabled_auto_recharge_attribution_ids(*, among: set[str] | None = None) -> list[str]:
    """The attributions whose auto-recharge is on (limited to `among` when given)."""
    rows = AutoRecharge.objects.filter(enabled=True)
    if among is not None:
        rows = rows.filter(attribution_id__in=among)
    return list(rows.order_by("attribution_id").values_list("attribution_id", flat=True))


@dataclass(frozen=True)
class PurchaseTerms:
    """One currency's terms from settings.TALLY_CREDIT_PURCHASE (whole credits, minor units)."""

    currency: str
    unit_amount_minor: int
    minimum: int
    maximum: int


def purchase_terms(currency: str) -> PurchaseTerms | None:
    terms = (settings.TALLY_CREDIT_PURCHASE or {}).get(str(currency or "").lower())
    if not terms:
        return None
    return PurchaseTerms(
        currency=str(currency).lower(),
        unit_amount_minor=int(terms["unit_amount_minor"]),
        minimum=int(terms.get("minimum", 1)),
        maximum=int(terms.get("maximum", 10**9)),
    )


def auto_recharge_summary(*, attribution_id: str) -> dict:
    """What the API and the page show of a team's auto-recharge (the last recharge is a row)."""
    row = auto_recharge_get(attribution_id=attribution_id)
    last = recharge_list(attribution_id=attribution_id).first()
    return {
        "attribution_id": attribution_id,
        "enabled": bool(row and row.enabled),
        "threshold": row.threshold if row else None,
        "target": row.target if row else None,
        "currency": row.currency if row else "",
        "prepaid_credits_left": prepaid_credits_left(attribution_id, timezone.now()),
        "consecutive_failures": row.consecutive_failures if row else 0,
        "retry_after": row.retry_after if row else None,
        "disabled_reason": row.disabled_reason if row else "",
        "last_error": row.last_error if row else "",
        "in_flight": bool(last and last.status in last.IN_FLIGHT),
        "last_recharge": last,
    }
