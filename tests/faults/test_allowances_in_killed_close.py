"""A worker SIGKILLed inside a cycle close that has just issued the new cycle's allowance: the
issue goes with the rest of the transaction, and the next run issues it exactly once.

Same approach as test_worker_killed_in_cycle_close.py: the test holds, uncommitted, the
`invoice` entry key the close writes last, so the worker is waiting there with the coverage,
the credits reset and the allowance grant written but not committed; it is killed there.
"""

import signal
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from core.locks import redis_client
from core.months import add_months
from credits.engine import truncate_to_minute
from credits.models import AllowanceIssue, Grant
from credits.services.allowances import allowance_template_create
from tests.faults.conftest import wait_until
from tests.faults.test_worker_killed_in_cycle_close import (
    WORKER_LOCK_TTL_SECONDS,
    InvoiceKeyHolder,
    start_worker,
)
from usage.models import CostCenter, UsageEntry
from usage.services import cost_center_get_or_create
from usage.tests.factories import UsageEntryFactory, new_attribution_id

ALLOWANCE_200, USAGE_300 = Decimal("200"), Decimal("300")  # 200 paid by the allowance, 100 invoiced


def test_an_allowance_issued_in_a_killed_close_is_issued_once_by_the_next_run(
    transactional_db, backend_killer, lock_store_clean, tmp_path
):
    started = timezone.now() - timedelta(days=40)
    who = new_attribution_id()
    cost_center_get_or_create(attribution_id=who, now=started)
    template = allowance_template_create(attribution_id=who, amount=ALLOWANCE_200, now=started)
    UsageEntryFactory(attribution_id=who, credits=USAGE_300, effective_time=started + timedelta(days=5))
    new_cycle = add_months(started, 1)
    assert add_months(started, 1) < timezone.now()  # due

    holder = InvoiceKeyHolder(who)
    holder.start()
    assert holder.holding.wait(15)
    worker = start_worker(tmp_path / "worker.log", workers=1)
    try:
        waiting = wait_until(
            lambda: worker.poll() is None and backend_killer.others(waiting_on_lock=True),
            timeout=30,
            interval=0.05,
            what="the worker to wait on the held invoice key, its allowance written",
        )
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(10) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    backend_killer.terminate(waiting)
    holder.done.set()
    holder.join(15)

    # Nothing of the killed close is left: the cycle did not move, no allowance for the new cycle.
    assert CostCenter.objects.get(attribution_id=who).billing_cycle_start == started
    assert not AllowanceIssue.objects.filter(template=template, cycle_start=new_cycle).exists()

    wait_until(
        lambda: (
            not redis_client(settings.REDIS_URL).exists(f"{settings.TALLY_LOCK_PREFIX}billing.close_cycles")
        ),
        timeout=WORKER_LOCK_TTL_SECONDS + 5,
        what="the dead worker's lock to expire",
    )
    from billing.tasks import cycles_close

    assert cycles_close()["cost_centers_closed"] == 1
    assert cycles_close()["cost_centers_closed"] == 0

    (issue,) = AllowanceIssue.objects.filter(template=template, cycle_start=new_cycle)
    assert (issue.grant.effective_at, issue.grant.amount) == (truncate_to_minute(new_cycle), ALLOWANCE_200)
    assert Grant.objects.filter(ledger__attribution_id=who, metadata__kind="allowance").count() == 2
    assert UsageEntry.objects.get(attribution_id=who, kind="invoice").credits == -(USAGE_300 - ALLOWANCE_200)
