"""Running a periodic job: under its lock, timed, counted, and recorded as a JobRun.

One name per job. Each name below is the job's Celery task name, its lock (`run_job`), its
`JobRun.job`, its metrics label and its django-celery-beat PeriodicTask (name and task). The
service a job runs and its task function share one name too:

| job                          | task function and service    | endpoint that runs it now              |
|------------------------------|------------------------------|----------------------------------------|
| `usage.rate`                 | `usage_rate`                 | `POST /api/v1/jobs/reconcile-usage`    |
| `billing.close_cycles`       | `cycles_close`               | `POST /api/v1/jobs/reset-usage`        |
| `billing.reconcile_invoices` | `invoices_reconcile`         | `POST /api/v1/jobs/reconcile-invoices` |
| `credits.snapshot`           | `balance_snapshots_save_due` | none (hourly only)                     |
| `billing.recharge_check`     | `recharges_check`            | none (every minute, and after rating)  |
| `traffic.collect_and_rate`   | `collect_and_rate`           | `POST /v1/jobs/collect-and-rate`       |

The endpoint paths are the public API and keep the names they were published with;
`JOB_ENDPOINTS` is the one place that says which job each of them runs.
"""

import json
import logging
import time
import traceback
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from core.context import acting_as, job_actor
from core.locks import job_lock
from core.metrics import JOB_DURATION, JOB_RUNS
from core.models import JobRun

logger = logging.getLogger(__name__)

USAGE_RATE = "usage.rate"
BILLING_CLOSE_CYCLES = "billing.close_cycles"
BILLING_RECONCILE_INVOICES = "billing.reconcile_invoices"
CREDITS_SNAPSHOT = "credits.snapshot"
TRAFFIC_COLLECT_AND_RATE = "traffic.collect_and_rate"
BILLING_RECHARGE_CHECK = "billing.recharge_check"

JOB_NAMES = (
    USAGE_RATE,
    TRAFFIC_COLLECT_AND_RATE,
    BILLING_CLOSE_CYCLES,
    BILLING_RECONCILE_INVOICES,
    CREDITS_SNAPSHOT,
    BILLING_RECHARGE_CHECK,
)

# Public paths (unchanged since they were published) -> the job each runs.
JOB_ENDPOINTS = {
    "/api/v1/jobs/reconcile-usage": USAGE_RATE,
    "/api/v1/jobs/reset-usage": BILLING_CLOSE_CYCLES,
    "/api/v1/jobs/reconcile-invoices": BILLING_RECONCILE_INVOICES,
    "/v1/jobs/collect-and-rate": TRAFFIC_COLLECT_AND_RATE,
}


def run_job(name: str, work: Callable[[], dict[str, Any]], *, triggered_by: str = "schedule") -> JobRun:
    """Run `work` under the job lock named `name`; a second copy is recorded as skipped, and
    so is a run that cannot reach the lock store (the reason says which).

    `work` returns a JSON-able result; a result with {"status": "partial"} marks the run
    partial. An exception marks it error and is re-raised after it is recorded.
    """
    run = JobRun.objects.create(job=name, started_at=timezone.now(), triggered_by=triggered_by)
    return _run_locked(name, work, run, time.monotonic())


def _run_locked(name: str, work: Callable[[], dict[str, Any]], run: JobRun, started: float) -> JobRun:
    with job_lock(name) as lock:
        if not lock.acquired:
            # Held elsewhere, or the lock store is unreachable: never run unlocked.
            run.outcome = JobRun.Outcome.SKIPPED
            run.result = {"status": "skipped", "reason": lock.skip_reason}
            if lock.unavailable:
                run.result["lock_unavailable"] = True
            _finish(run, started)
            return run
        try:
            with acting_as(job_actor(name=name, run_id=run.pk)):  # audit events name the job
                result = work() or {}
        except Exception as exc:
            run.outcome = JobRun.Outcome.ERROR
            run.error = "".join(traceback.format_exception_only(exc)).strip()[:2000]
            run.result = {"status": "error", "error": run.error}
            _finish(run, started)
            logger.exception("Job %s failed", name)
            raise
        run.outcome = JobRun.Outcome.PARTIAL if result.get("status") == "partial" else JobRun.Outcome.OK
        run.result = {"status": run.outcome, **{k: v for k, v in result.items() if k != "status"}}
        _finish(run, started)
        return run


def _finish(run: JobRun, started: float) -> None:
    run.finished_at = timezone.now()
    run.save(update_fields=["finished_at", "outcome", "result", "error"])
    JOB_RUNS.labels(job=run.job, outcome=run.outcome).inc()
    seconds = time.monotonic() - started
    JOB_DURATION.labels(job=run.job).observe(seconds)
    logger.info("job %s %s in %.2f s: %s", run.job, run.outcome, seconds, short_result(run.result))


def short_result(result: dict | None, *, limit: int = 160) -> str:
    """A run's result for its one log line: what it did, without statuses (the outcome says
    them), zeros, and its own name and times; cut at `limit` characters. The whole result is on
    the JobRun."""
    text = json.dumps(_what_it_did(result or {}), default=str, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


_SAID_ELSEWHERE = {"status", "job", "started_at", "finished_at"}


def _what_it_did(value):
    if isinstance(value, dict):
        kept = {k: _what_it_did(v) for k, v in value.items() if k not in _SAID_ELSEWHERE}
        return {k: v for k, v in kept.items() if v not in (0, "0", None, [], {})}
    return value
