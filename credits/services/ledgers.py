"""Ledgers, and the row lock every write to a ledger takes.

Lock protocol: a service that writes to a ledger (grant, void, reset, snapshot) first locks the
ledger's row with `SELECT … FOR UPDATE NOWAIT` inside its transaction and holds it to the end.
A busy ledger answers 409 "ledger is locked, try again" at once instead of queueing writers
behind a slow one; the caller retries. Only that one row is locked, so two writers cannot
deadlock.
"""

from django.db import IntegrityError, OperationalError, transaction

from audit.services import audit_record
from core.attribution import normalize_attribution_id
from core.errors import Conflict, LockBusy, NotFound
from core.services_tx import runs_in_callers_transaction, service
from credits.models import Ledger
from usage.hooks import ensure_registered_payer

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's lock_not_available, raised by NOWAIT


class LedgerExists(Conflict):
    """A second ledger for one attribution: the API answers 409 with the existing one."""

    default_code = "ledger_exists"

    def __init__(self, ledger: Ledger):
        super().__init__(f"{ledger.attribution_id} already has a credits ledger.")
        self.ledger = ledger


def _is_lock_busy(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE


@runs_in_callers_transaction
def ledger_lock(*, attribution_id: str, create: bool = False) -> Ledger:
    """The ledger's row, locked until the surrounding transaction ends (call inside one).

    With `create`, a missing ledger is created first (in a savepoint, so the surrounding
    transaction still decides whether it stays). Raises LockBusy (409) when another
    transaction holds the row, NotFound (404) when there is no ledger and `create` is false.
    """
    if create and not Ledger.objects.filter(attribution_id=attribution_id).exists():
        try:
            # A savepoint that buys something: losing the race to create it, we go on and lock it.
            with transaction.atomic():
                Ledger.objects.create(attribution_id=attribution_id)
        except IntegrityError:
            pass  # created concurrently: lock that one
    try:
        return Ledger.objects.select_for_update(nowait=True).get(attribution_id=attribution_id)
    except Ledger.DoesNotExist:
        raise NotFound(f"{attribution_id} has no credits ledger.", code="ledger_not_found") from None
    except OperationalError as exc:
        if _is_lock_busy(exc):
            raise LockBusy("ledger is locked, try again", code="ledger_locked") from None
        raise


@service
def ledger_create(*, attribution_id: str) -> Ledger:
    """POST /ledgers: a ledger for an attribution; LedgerExists (409) when it already has one,
    UnknownAttribution (400) when the attribution names no registered payer."""
    attribution_id = ensure_registered_payer(normalize_attribution_id(attribution_id, field="subject"))
    try:
        # A savepoint that buys something: after losing the race we still read the winner's
        # ledger for the 409.
        with transaction.atomic():
            ledger = Ledger.objects.create(attribution_id=attribution_id)
            audit_record(
                action="ledger.created",
                object_type="ledger",
                object_id=ledger.pk,
                attribution_id=attribution_id,
                after={"attribution_id": attribution_id},
            )
            return ledger
    except IntegrityError:
        raise LedgerExists(Ledger.objects.get(attribution_id=attribution_id)) from None
