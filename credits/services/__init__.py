from credits.services.features import FeatureExists, feature_archive, feature_create
from credits.services.grants import grant_create, grant_create_in_callers_transaction, grant_void
from credits.services.ledgers import LedgerExists, ledger_create, ledger_lock
from credits.services.resets import LedgerResetOutcome, ledger_reset, ledger_reset_in_callers_transaction
from credits.services.snapshots import (
    balance_snapshot_save,
    balance_snapshots_save_due,
    periodic_snapshot_time,
    snapshot_grace,
    snapshots_invalidate,
)

__all__ = [
    "FeatureExists",
    "LedgerExists",
    "LedgerResetOutcome",
    "balance_snapshot_save",
    "balance_snapshots_save_due",
    "feature_archive",
    "feature_create",
    "grant_create",
    "grant_create_in_callers_transaction",
    "grant_void",
    "ledger_create",
    "ledger_lock",
    "ledger_reset",
    "ledger_reset_in_callers_transaction",
    "periodic_snapshot_time",
    "snapshot_grace",
    "snapshots_invalidate",
]
