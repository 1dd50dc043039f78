"""A worker SIGKILLed in the middle of cycle close; the next run finishes the job, nothing doubled.

The worker is a separate OS process running the Celery task's body (`billing.close_cycles`:
job lock, then every due cost center, one transaction each). To kill it at a known point, the
test holds, uncommitted, the `invoice` entry key the middle cost center is about to write: the
worker has closed the ones before it and is inside that one's transaction (coverage entry,
credits reset, cycle moved on) when the database shows it waiting, and it is killed there.
"""

import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from billing.models import UsageReport
from billing.tasks import cycles_close
from core.locks import redis_client
from core.models import JobRun
from core.months import add_months
from core.timeutils import format_rfc3339
from credits.models import BalanceSnapshot, Grant, Ledger, Reset
from credits.services.grants import grant_create
from tests.faults.conftest import database_url, wait_until
from usage.models import CostCenter, CostCenterVersion, UsageEntry
from usage.services import cost_center_get_or_create, cost_center_set
from usage.tests.factories import UsageEntryFactory, new_attribution_id

BASE_DIR = Path(settings.BASE_DIR)
COST_CENTERS = 12
KILLED_AT = 6  # the 7th in the job's order (0-based)
WORKER_LOCK_TTL_SECONDS = 2
GRANT_200, USAGE_300 = Decimal("200"), Decimal("300")  # 200 covered by the grant, 100 invoiced


def build_cost_centers(started: datetime) -> list[str]:
    """COST_CENTERS due cost centers, a minute apart (the job's order); every third bills via Stripe."""
    ids = []
    for n in range(COST_CENTERS):
        who, cycle_start = new_attribution_id(), started + timedelta(minutes=n)
        cost_center_get_or_create(attribution_id=who, now=cycle_start)
        if n % 3 == 2:
            cost_center_set(attribution_id=who, billing_strategy="stripe", now=cycle_start)
        grant_create(attribution_id=who, amount=GRANT_200, effective_at=cycle_start, now=cycle_start)
        UsageEntryFactory(
            attribution_id=who, credits=USAGE_300, effective_time=cycle_start + timedelta(days=5)
        )
        ids.append(who)
    return ids


def closed(ids: list[str]) -> int:
    return CostCenter.objects.filter(attribution_id__in=ids, next_billing_time__gt=timezone.now()).count()


def what_closing_wrote(who: str) -> dict:
    """Everything cycle close writes for one cost center, without ids and times of the run."""
    ledger = Ledger.objects.get(attribution_id=who)
    cost_center = CostCenter.objects.get(attribution_id=who)
    return {
        "entries": sorted(
            (e.kind, e.credits, (e.object_id or "").split(":")[0])
            for e in UsageEntry.objects.filter(attribution_id=who)
        ),
        "resets": Reset.objects.filter(ledger=ledger).count(),
        "grants": Grant.objects.filter(ledger=ledger).count(),
        "snapshots": BalanceSnapshot.objects.filter(ledger=ledger).count(),
        "versions": sorted(
            CostCenterVersion.objects.filter(cost_center=cost_center).values_list("reason", flat=True)
        ),
        "strategy": cost_center.billing_strategy,
        "cycle": (cost_center.billing_cycle_start, cost_center.next_billing_time),
        "usage_reports": UsageReport.objects.filter(attribution_id=who).count(),
    }


class InvoiceKeyHolder(threading.Thread):
    """Inserts, and keeps uncommitted, the invoice entry a cost center's close is about to write."""

    def __init__(self, who: str):
        super().__init__(daemon=True)
        self.who = who
        self.holding = threading.Event()
        self.done = threading.Event()

    def run(self):
        cost_center = CostCenter.objects.get(attribution_id=self.who)
        try:
            with transaction.atomic():
                UsageEntry.objects.create(
                    attribution_id=self.who,
                    description="held by the test",
                    credits=Decimal("0"),
                    effective_time=timezone.now(),
                    kind=UsageEntry.Kind.INVOICE,
                    object_id=f"reset:{self.who}:{format_rfc3339(cost_center.next_billing_time)}",
                    draft=False,
                )
                self.holding.set()
                self.done.wait(60)
                transaction.set_rollback(True)
        finally:
            connection.close()


def start_worker(log: Path, workers: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "TALLY_LOCK_PREFIX": settings.TALLY_LOCK_PREFIX,
        "TALLY_JOB_LOCK_TTL_SECONDS": str(WORKER_LOCK_TTL_SECONDS),
        "TALLY_CYCLE_CLOSE_WORKERS": str(workers),
    }
    code = "import django; django.setup(); from billing.tasks import cycles_close; print(cycles_close())"
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


@pytest.mark.parametrize("workers", [1, 4])
def test_a_worker_killed_mid_close_leaves_the_rest_to_the_next_run_and_nothing_twice(
    transactional_db, backend_killer, lock_store_clean, tmp_path, workers
):
    # One thread stops at the held cost center with the ones before it closed; four threads
    # close every other one and stop there too. Either way the next run closes what is left.
    closed_when_killed = KILLED_AT if workers == 1 else COST_CENTERS - 1
    started = timezone.now() - timedelta(days=40)
    ids = build_cost_centers(started)
    assert add_months(started, 1) < timezone.now()  # all due
    holder = InvoiceKeyHolder(ids[KILLED_AT])
    holder.start()
    assert holder.holding.wait(15)

    lock_key = f"{settings.TALLY_LOCK_PREFIX}billing.close_cycles"
    worker = start_worker(tmp_path / "worker.log", workers)
    try:
        waiting = wait_until(
            lambda: (
                worker.poll() is None
                and closed(ids) == closed_when_killed
                and backend_killer.others(waiting_on_lock=True)
            ),
            timeout=30,
            interval=0.05,
            what=f"the worker to close {closed_when_killed} cost centers and wait in the next",
        )
        assert redis_client(settings.REDIS_URL).get(lock_key)  # the worker holds the job lock
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(10) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    # PostgreSQL rolls back what the dead worker had not committed (its backend goes with it).
    backend_killer.terminate(waiting)
    holder.done.set()
    holder.join(15)
    assert closed(ids) == closed_when_killed
    (killed_run,) = JobRun.objects.filter(job="billing.close_cycles")
    assert killed_run.outcome == JobRun.Outcome.RUNNING  # it never got to say how it ended

    # Its lock outlives it by at most one TTL: a run now skips, one after the expiry runs.
    if redis_client(settings.REDIS_URL).pttl(lock_key) > 500:
        assert cycles_close()["status"] == "skipped"
    wait_until(
        lambda: not redis_client(settings.REDIS_URL).exists(lock_key),
        timeout=WORKER_LOCK_TTL_SECONDS + 5,
        what="the dead worker's lock to expire",
    )
    resumed = cycles_close()

    assert resumed["status"] == "ok", resumed
    assert resumed["cost_centers_closed"] == COST_CENTERS - closed_when_killed
    assert closed(ids) == COST_CENTERS
    assert cycles_close()["cost_centers_closed"] == 0

    # A clean run over the same cost centers writes exactly the same.
    clean_ids = build_cost_centers(started)
    clean = cycles_close()
    assert (clean["status"], clean["cost_centers_closed"]) == ("ok", COST_CENTERS)
    others_invoiced = sum(1 for n in range(COST_CENTERS) if n % 3 != 2) * (USAGE_300 - GRANT_200)
    assert Decimal(clean["credits_invoiced"]) == others_invoiced
    assert Decimal(clean["credits_covered"]) == COST_CENTERS * GRANT_200
    for killed, fresh in zip(ids, clean_ids, strict=True):
        assert what_closing_wrote(killed) == what_closing_wrote(fresh)
    first = what_closing_wrote(ids[KILLED_AT])
    assert first["resets"] == 1
    assert [kind for kind, *_ in first["entries"]] == ["grantcoverage", "invoice", "workspace"]
    assert sorted(UsageEntry.objects.filter(attribution_id__in=ids).values_list("kind", flat=True)) == sorted(
        UsageEntry.objects.filter(attribution_id__in=clean_ids).values_list("kind", flat=True)
    )
