"""Cycle close (billing.close_cycles): grant coverage, a credits reset and the usage reset.

For each cost center whose next billing time has passed, in one transaction under its row
lock: the cycle moves on by whole months; what grants paid in the closed cycle is written as a
`grantcoverage` entry; the credits ledger is reset at the new cycle start (rollover rules
apply), with the new cycle's recurring allowances issued just before it
(credits.services.allowances); an `other` cost center also gets its capped `invoice` entry.
Running it twice, at once, or after a crash changes nothing twice: the second run finds nothing
due.
"""

import contextvars
import logging
import queue
import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from core.errors import ApplicationError
from core.money import ZERO, format_credits
from core.months import add_months, cycle_advance
from core.services_tx import job, runs_in_callers_transaction, service_of
from core.timeutils import format_rfc3339
from credits.models import Ledger
from credits.selectors.coverage import cycle_credits_covered
from credits.services.allowances import allowances_issue_in_callers_transaction
from credits.services.resets import ledger_reset_in_callers_transaction
from usage.models import CostCenter, UsageEntry
from usage.services import (
    cost_center_close_cycle_in_callers_transaction,
    cost_center_start_cycle_in_callers_transaction,
    ledger_entry_write_once_in_callers_transaction,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CycleClose:
    attribution_id: str
    closed_from: datetime
    new_cycle_start: datetime
    covered: Decimal
    invoiced: Decimal


@runs_in_callers_transaction
def cycle_close_in_callers_transaction(
    *, attribution_id: str, now: datetime | None = None
) -> CycleClose | None:
    """Close the cost center's cycle if it is due (the module's docstring says how), under its
    row lock, in the caller's transaction (`cycle_close`, or a finalized invoice's webhook)."""
    now = now or timezone.now()
    cost_center = CostCenter.objects.select_for_update().filter(attribution_id=attribution_id).first()
    if cost_center is None or cost_center.next_billing_time > now:
        return None
    closed_from = cost_center.billing_cycle_start
    advance = cycle_advance(cost_center.billing_cycle_start, now)
    new_start = advance.start
    # The closed cycle's hours; the hour new_start falls in is the new cycle's (coverage.py).
    covered = cycle_credits_covered(
        attribution_id=attribution_id, cycle_start=closed_from, cycle_end=new_start
    )
    if covered > 0:
        ledger_entry_write_once_in_callers_transaction(
            attribution_id=attribution_id,
            object_id=f"grantcoverage:{attribution_id}:{format_rfc3339(new_start)}",
            kind=UsageEntry.Kind.GRANT_COVERAGE,
            credits=-covered,
            effective_time=new_start,
            description=(
                f"Grants paid {format_credits(covered)} credits in the cycle from "
                f"{format_rfc3339(closed_from)}"
            ),
        )
    # The new cycle's allowances, in this transaction: issued once per cycle (the cycle it lands
    # in, after a catch-up of several months), never doubled nor skipped by a crash or a rerun.
    # Issued just before the reset, effective at the new start: the reset leaves a grant that
    # starts at its own instant alone, and its snapshot then knows the grant (issued after, the
    # grant would delete that snapshot). The cycle's end is the one the strategy's part below
    # writes (stripe: a month from new_start).
    new_end = (
        advance.next_billing_time
        if cost_center.billing_strategy == CostCenter.BillingStrategy.OTHER
        else add_months(new_start, 1)
    )
    allowances_issue_in_callers_transaction(
        attribution_id=attribution_id, cycle_start=new_start, cycle_end=new_end, now=now
    )
    ledger = Ledger.objects.filter(attribution_id=attribution_id).first()
    if (
        ledger is not None
        and not ledger.resets.filter(effective_at__gte=new_start.replace(second=0, microsecond=0)).exists()
    ):
        ledger_reset_in_callers_transaction(
            attribution_id=attribution_id, effective_at=new_start, now=now, created_by="cycle close"
        )
    invoiced = ZERO
    if cost_center.billing_strategy == CostCenter.BillingStrategy.OTHER:
        # Usage of the hour new_start falls in is the new cycle's: what grants paid of it is
        # covered there, so it is not invoiced now.
        in_new_cycle = cycle_credits_covered(attribution_id=attribution_id, cycle_start=new_start, now=now)
        outcome = cost_center_close_cycle_in_callers_transaction(
            attribution_id=attribution_id, now=now, covered_in_new_cycle=in_new_cycle
        )
        invoiced = outcome.invoiced if outcome else ZERO
    else:
        cost_center_start_cycle_in_callers_transaction(
            attribution_id=attribution_id, start=new_start, reason="cycle closed"
        )
    return CycleClose(attribution_id, closed_from, new_start, covered, invoiced)


cycle_close = service_of(cycle_close_in_callers_transaction, name="cycle_close")


def _close_one(attribution_id: str, now: datetime) -> tuple[str, CycleClose | None]:
    """("closed", result), ("not_due", None) or ("failed", None): one cost center, its own transaction."""
    try:
        result = cycle_close(attribution_id=attribution_id, now=now)
    except ApplicationError as exc:  # e.g. the credits ledger is locked right now
        logger.warning("Cycle close of %s deferred: %s", attribution_id, exc.message)
        return "failed", None
    except Exception:
        logger.exception("Cycle close of %s failed; the next run retries it.", attribution_id)
        return "failed", None
    return ("closed", result) if result is not None else ("not_due", None)


def _close_batch(
    attribution_ids: list[str], now: datetime, workers: int
) -> list[tuple[str, str, CycleClose | None]]:
    """Close a batch, on `workers` threads with a database connection each.

    Each close is a few dozen short queries: threads overlap the waits on PostgreSQL (the Python
    work itself shares one interpreter; docs/benchmarks.md has the figures). Every thread runs in
    a copy of the caller's context (the job's actor and request id reach what it writes) and closes its
    connection when the batch is done.
    """
    if workers <= 1 or len(attribution_ids) <= 1:
        return [(a, *_close_one(a, now)) for a in attribution_ids]
    todo: queue.SimpleQueue[str] = queue.SimpleQueue()
    for attribution_id in attribution_ids:
        todo.put(attribution_id)
    done: list[tuple[str, str, CycleClose | None]] = []
    done_lock = threading.Lock()

    def work() -> None:
        try:
            while True:
                try:
                    attribution_id = todo.get_nowait()
                except queue.Empty:
                    return
                outcome = (attribution_id, *_close_one(attribution_id, now))
                with done_lock:
                    done.append(outcome)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(work,), name=f"cycle-close-{n}")
        for n in range(min(workers, len(attribution_ids)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done


@job
def cycles_close(*, now: datetime | None = None, batch_size: int = 500, workers: int | None = None) -> dict:
    """The job: every due cost center, each in its own transaction; failures retried next run.

    `workers` (default `TALLY_CYCLE_CLOSE_WORKERS`) threads close cost centers side by side;
    SQLite (the embedded default) allows one writer, so there it is always one.
    """
    now = now or timezone.now()
    workers = settings.TALLY_CYCLE_CLOSE_WORKERS if workers is None else workers
    if connection.vendor == "sqlite" or connection.in_atomic_block:
        # Threads have their own connections: they could not see the caller's open transaction.
        workers = 1
    closed, failed = 0, []
    covered_total = invoiced_total = ZERO
    while True:
        due = list(
            CostCenter.objects.filter(next_billing_time__lte=now)
            .exclude(attribution_id__in=failed)
            .order_by("next_billing_time", "id")
            .values_list("attribution_id", flat=True)[:batch_size]
        )
        if not due:
            break
        for attribution_id, status, result in _close_batch(due, now, workers):
            if status == "failed":
                failed.append(attribution_id)
            elif status == "closed":
                closed += 1
                covered_total += result.covered
                invoiced_total += result.invoiced
    return {
        "status": "partial" if failed else "ok",
        "cost_centers_closed": closed,
        "credits_covered": format_credits(covered_total),
        "credits_invoiced": format_credits(invoiced_total),
        "failed": failed,
    }
