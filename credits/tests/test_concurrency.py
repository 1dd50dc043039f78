"""Two real connections: NOWAIT answers 409 at once, and concurrent writers never lose or double a grant."""

import threading
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection, transaction

from core.errors import LockBusy
from credits.models import Grant, Ledger
from credits.services import balance_snapshots_save_due, grant_create, grant_void, ledger_reset
from credits.tests.factories import T0
from usage.tests.factories import new_attribution_id

pytestmark = pytest.mark.django_db(transaction=True)


class HeldLock:
    """Another connection holding the ledger's row lock in an open transaction."""

    def __init__(self, attribution_id: str):
        self.attribution_id = attribution_id
        self.locked = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self):
        try:
            with transaction.atomic():
                Ledger.objects.select_for_update().get(attribution_id=self.attribution_id)
                self.locked.set()
                self.release.wait(timeout=30)
        finally:
            connection.close()

    def __enter__(self):
        self.thread.start()
        assert self.locked.wait(timeout=10)
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(timeout=10)


def test_a_busy_ledger_answers_409_at_once_and_stores_nothing(internal_client):
    who = new_attribution_id()
    grant = grant_create(attribution_id=who, amount="10", effective_at=T0)

    with HeldLock(who):
        with pytest.raises(LockBusy) as busy:
            grant_create(attribution_id=who, amount="5", effective_at=T0)
        with pytest.raises(LockBusy):
            grant_void(attribution_id=who, grant_id=grant.id)
        with pytest.raises(LockBusy):
            ledger_reset(attribution_id=who)
        over_http = internal_client.post(f"/api/v1/ledgers/{who}/grants", {"amount": "5"}, format="json")
        job = balance_snapshots_save_due(now=T0)

    assert (busy.value.status_code, busy.value.code, busy.value.message) == (
        409,
        "ledger_locked",
        "ledger is locked, try again",
    )
    assert over_http.status_code == 409
    assert over_http.json() == {"error": "ledger_locked", "message": "ledger is locked, try again"}
    assert (job["busy"], job["saved"]) == (1, 0)
    assert list(Grant.objects.values_list("amount", "voided_at")) == [(Decimal(10), None)]
    # Once the other transaction ends, the same write goes through.
    assert grant_create(attribution_id=who, amount="5", effective_at=T0).amount == Decimal(5)


@pytest.mark.parametrize("ledger_exists", [True, False])
def test_concurrent_writers_never_lose_or_double_a_grant(ledger_exists):
    who = new_attribution_id()
    if ledger_exists:
        grant_create(attribution_id=who, amount="1", effective_at=T0)
    writers = 12
    start = threading.Barrier(writers)
    outcomes: dict[int, object] = {}

    def write(n: int):
        try:
            start.wait(timeout=10)
            amount = Decimal(100 + n)
            for _ in range(3):  # a few quick tries, as a client would
                try:
                    grant_create(attribution_id=who, amount=amount, effective_at=T0)
                    outcomes[n] = amount
                    return
                except LockBusy:
                    outcomes[n] = "busy"
        except Exception as exc:
            outcomes[n] = exc
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert all(o == "busy" or isinstance(o, Decimal) for o in outcomes.values()), outcomes
    succeeded = sorted(o for o in outcomes.values() if isinstance(o, Decimal))
    stored = sorted(
        Grant.objects.filter(ledger__attribution_id=who, amount__gte=100).values_list("amount", flat=True)
    )
    assert succeeded  # someone always gets the lock
    assert stored == succeeded
    assert Ledger.objects.filter(attribution_id=who).count() == 1
