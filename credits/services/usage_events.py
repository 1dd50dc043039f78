"""What credits does when usage changes: snapshots taken after backdated usage are stale."""

from datetime import datetime

from credits.models import Ledger
from credits.services.snapshots import snapshots_invalidate


def invalidate_after_backdated_usage(*, attribution_id: str, since: datetime) -> None:
    """Drop the subject's snapshots at or after `since` (the next balance read recomputes from
    an older one, and the periodic job saves a fresh one). Runs inside the usage write's
    transaction; it takes no ledger lock, so ingestion never waits on a credits write."""
    ledger = Ledger.objects.filter(attribution_id=attribution_id).first()
    if ledger is not None:
        snapshots_invalidate(ledger=ledger, effective_at=since)
