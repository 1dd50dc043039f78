"""Reads of credits ledgers. Usage is read only through `usage.selectors`, summed in the database."""

from datetime import datetime

from django.db.models import QuerySet

from credits.models import Feature, Grant, Ledger, Reset
from credits.selectors.balances import (
    CREDITS_UNIT,
    FeatureBalance,
    GrantBalance,
    LedgerBalance,
    feature_balance,
    feature_unit,
    ledger_balance,
)
from credits.selectors.computation import (
    ORIGIN,
    GrantRow,
    LedgerComputation,
    cutline,
    engine_feature_key,
    ledger_compute,
    ledger_get,
    public_feature_key,
)
from credits.selectors.coverage import credits_covered, cycle_credits_covered
from credits.selectors.entitlements import (
    EntitlementValue,
    access_granted,
    entitlement_value,
    spending_limit_reached,
)
from credits.selectors.history import EntryType, HistoryEntry, LedgerHistory, ledger_history


def feature_list(*, include_archived: bool = False) -> QuerySet[Feature]:
    features = Feature.objects.order_by("key")
    return features if include_archived else features.filter(archived_at__isnull=True)


def feature_get(*, key: str) -> Feature | None:
    return Feature.objects.filter(key=key).first()


def grant_list(*, attribution_id: str) -> QuerySet[Grant]:
    """The grants of the attribution's ledger, newest effective first (none without a ledger)."""
    return (
        Grant.objects.filter(ledger__attribution_id=attribution_id)
        .select_related("ledger", "feature")
        .order_by("-effective_at", "-id")
    )


def last_reset_at(*, ledger: Ledger) -> datetime | None:
    return (
        Reset.objects.filter(ledger=ledger)
        .order_by("-effective_at")
        .values_list("effective_at", flat=True)
        .first()
    )


__all__ = [
    "CREDITS_UNIT",
    "ORIGIN",
    "EntitlementValue",
    "EntryType",
    "FeatureBalance",
    "GrantBalance",
    "GrantRow",
    "HistoryEntry",
    "LedgerBalance",
    "LedgerComputation",
    "LedgerHistory",
    "access_granted",
    "credits_covered",
    "cutline",
    "cycle_credits_covered",
    "engine_feature_key",
    "entitlement_value",
    "feature_balance",
    "feature_get",
    "feature_list",
    "feature_unit",
    "grant_list",
    "last_reset_at",
    "ledger_balance",
    "ledger_compute",
    "ledger_get",
    "ledger_history",
    "public_feature_key",
    "spending_limit_reached",
]
