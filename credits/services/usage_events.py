"""What credits does when usage changes: snapshots taken after backdated usage are stale."""

from datetime import datetime
from decimal import Decimal

from core.services_tx import runs_in_callers_transaction
from credits.models import Ledger
from credits.services.grants import grant_create_in_callers_transaction
from credits.services.snapshots import snapshots_invalidate


@runs_in_callers_transaction
def invalidate_after_backdated_usage(*, attribution_id: str, since: datetime) -> None:
    """Drop the attribution's snapshots at or after `since` (the next balance read recomputes from
    an older one, and the periodic job saves a fresh one). Runs inside the usage write's
    transaction; it takes no ledger lock, so ingestion never waits on a credits write."""
    ledger = Ledger.objects.filter(attribution_id=attribution_id).first()
    if ledger is not None:
        snapshots_invalidate(ledger=ledger, effective_at=since)


@runs_in_callers_transaction
def grant_initial_balance(*, attribution_id: str, account_uuid: str, initial_balance: Decimal) -> None:
    """INITIAL_BALANCE (`initial_balance`, from traffic.hooks) becomes a grant on a traffic
    account's ledger when the account is first seen (inside the transaction that created it).
    Zero grants nothing."""
    amount = initial_balance
    if amount > 0:
        grant_create_in_callers_transaction(
            attribution_id=attribution_id,
            amount=amount,
            metadata={"reason": "INITIAL_BALANCE", "account_uuid": account_uuid},
        )
