"""collect-and-rate: pull every enabled exporter source's window, write minute facts, rate them.

Per source: `until` = now truncated to the minute minus one minute; `since` = the source's last
completed until minus 2 minutes (first run: until minus 2 minutes). Pages are pulled while
`has_more`, each applied in its own transaction (traffic/services/store.py). A source that fails
(timeout, non-2xx, bad page, node/env mismatch, has_more without next_cursor) keeps its
checkpoint and records its error; the others go on. Only after a whole window was applied are
its minutes before `until` closed and the checkpoint moved, in one transaction.

Run status: `ok`; `partial` when some sources failed or samples were skipped; `error` when no
source is enabled or every enabled source failed (then `CollectFailed` is raised, so the job
run is recorded as an error and the API answers 503).
"""

import logging
from dataclasses import replace
from datetime import datetime, timedelta

import requests
from django.utils import timezone
from prometheus_client import Counter

from core.crypto import DecryptionFailed
from core.jobs import run_job
from core.metrics import REGISTRY
from core.models import JobRun
from core.money import format_credits
from core.services_tx import durable_transaction, job, writes_nothing
from core.timeutils import format_rfc3339
from traffic.client import Source, SourceFailure, fetch_page
from traffic.deltas import MINUTE
from traffic.models import ExporterSource, TrafficSourceState
from traffic.selectors import JOB_NAME, source_status
from traffic.services.sources import exporter_sources_sync, source_runtime
from traffic.services.store import ConcurrentWrite, RunCounters, apply_page, seal_minutes

logger = logging.getLogger(__name__)

WINDOW_OVERLAP = timedelta(minutes=2)
MAX_PAGES_PER_RUN = 10_000
MAX_CURSOR_REPEATS = 3
MAX_ERROR_CHARS = 2000

TRAFFIC_SAMPLES = Counter(
    "tally_traffic_samples_total",
    "Exporter samples (per account and snapshot) by result (processed, invalid).",
    ["result"],
    registry=REGISTRY,
)
TRAFFIC_MINUTES = Counter(
    "tally_traffic_minutes_total",
    "Traffic minute facts by result (written, replayed).",
    ["result"],
    registry=REGISTRY,
)
EXPORTER_PULLS = Counter(
    "tally_exporter_pulls_total",
    "Exporter source pulls (one source's window in one run) by source and outcome (ok, failed).",
    ["source", "outcome"],
    registry=REGISTRY,
)


class CollectFailed(Exception):
    """The run failed as a whole; `result` holds what it did and every source's status."""

    def __init__(self, result: dict):
        super().__init__(result.get("error") or "collect-and-rate failed")
        self.result = result


@writes_nothing
def window_for(*, now: datetime, last_completed_until: datetime | None) -> tuple[datetime, datetime]:
    until = now.replace(second=0, microsecond=0) - MINUTE
    since = (last_completed_until or until) - WINDOW_OVERLAP
    return since, until


def _record_failure(state: TrafficSourceState, message: str) -> None:
    state.last_error = message[:MAX_ERROR_CHARS]
    state.save(update_fields=["last_error", "updated_at"])
    EXPORTER_PULLS.labels(source=state.source_id, outcome="failed").inc()
    logger.warning("Traffic source %s failed: %s", state.source_id, message)


def _learn_identity(state: TrafficSourceState, configured: Source, identities: set[tuple[str, str]]) -> None:
    nodes = {node for node, _ in identities}
    envs = {env for _, env in identities}
    if not configured.expected_node_id and not state.node_id and len(nodes) == 1:
        state.node_id = nodes.pop()
    if not configured.expected_env and not state.env and len(envs) == 1:
        state.env = envs.pop()


@job
def collect_source(
    source: Source, *, now: datetime, counters: RunCounters, session: requests.Session, problems: list[str]
) -> tuple[TrafficSourceState, str | None]:
    """Pull and apply one source's window; returns its state and its error (None when it worked).

    A job step, not one transaction: each page commits on its own, then the seal and the
    checkpoint together; the source's attempt and error are recorded whatever happened."""
    state, _ = TrafficSourceState.objects.get_or_create(source_id=source.source_id)
    state.last_attempted_at = timezone.now()
    state.save(update_fields=["last_attempted_at", "updated_at"])
    since, until = window_for(now=now, last_completed_until=state.last_completed_until)
    configured = source
    # A source the configuration does not pin is held to the node and env it reported first.
    source = replace(
        source,
        expected_node_id=source.expected_node_id or state.node_id,
        expected_env=source.expected_env or state.env,
    )
    identities: set[tuple[str, str]] = set()
    cursor: str | None = None
    requested: set[str] = set()
    repeats = 0
    newest_seen: datetime | None = None
    try:
        for _ in range(MAX_PAGES_PER_RUN):
            page = fetch_page(session, source, since=since, until=until, cursor=cursor)
            counters.invalid_samples += page.invalid_samples
            problems.extend(f"source {source.source_id}: {p}" for p in page.problems)
            apply_page(source=source, page=page, counters=counters, now=now)
            identities.update((s.node_id, s.env) for s in page.snapshots)
            if page.snapshots:
                newest = page.snapshots[-1].collected_at
                newest_seen = newest if newest_seen is None else max(newest_seen, newest)
            if not page.has_more:
                break
            requested.add(cursor or "")
            if page.next_cursor in requested:
                # A replayed (stale) page points back at a page already read: its snapshots
                # were replays; ask again, but not forever.
                repeats += 1
                if repeats > MAX_CURSOR_REPEATS:
                    raise SourceFailure(
                        f"source {source.source_id}: next_cursor {page.next_cursor!r} repeats"
                    )
            cursor = page.next_cursor
        else:
            raise SourceFailure(
                f"source {source.source_id}: more than {MAX_PAGES_PER_RUN} pages in one window"
            )
        # The checkpoint moves to `until`, or only as far as the newest snapshot the exporter
        # gave (a lagging exporter, or a stale page that said has_more=false), so the next
        # window reads again whatever it may not have had yet; an empty window moves nothing.
        completed = state.last_completed_until if newest_seen is None else min(until, newest_seen)
        sealed = RunCounters()
        with durable_transaction():
            seal_minutes(source=source, before=until, counters=sealed, now=now)
            state.last_completed_until = completed
            state.last_succeeded_at = timezone.now()
            state.last_error = ""
            _learn_identity(state, configured, identities)
            state.save(
                update_fields=[
                    "last_completed_until",
                    "last_succeeded_at",
                    "last_error",
                    "node_id",
                    "env",
                    "updated_at",
                ]
            )
        counters.merge(sealed)
    except (SourceFailure, ConcurrentWrite) as exc:
        _record_failure(state, str(exc))
        return state, str(exc)
    except Exception as exc:  # a bug or the database: this source fails, the others still run
        logger.exception("Traffic source %s failed unexpectedly", source.source_id)
        message = f"source {source.source_id}: {type(exc).__name__}: {exc}"
        _record_failure(state, message)
        return state, message
    EXPORTER_PULLS.labels(source=source.source_id, outcome="ok").inc()
    return state, None


@job
def traffic_collect_and_rate(
    *, job: str = "collect-and-rate", now: datetime | None = None, session: requests.Session | None = None
) -> dict:
    """One collect-and-rate run over every enabled source. Call under the job lock
    (`traffic_job_run`); raises CollectFailed when the run as a whole failed."""
    started_at = timezone.now()
    now = now or started_at
    exporter_sources_sync()
    rows = list(ExporterSource.objects.filter(enabled=True).order_by("source_id"))
    counters = RunCounters()
    errors: list[str] = []
    problems: list[str] = []
    statuses = []
    failed = 0
    own_session = session is None
    session = session or requests.Session()
    try:
        for row in rows:
            try:
                source = source_runtime(row)
            except DecryptionFailed as exc:
                state, _ = TrafficSourceState.objects.get_or_create(source_id=row.source_id)
                state.last_attempted_at = timezone.now()
                message = f"source {row.source_id}: its token cannot be decrypted ({exc})"
                state.save(update_fields=["last_attempted_at", "updated_at"])
                _record_failure(state, message)
                statuses.append(source_status(state))
                errors.append(message)
                failed += 1
                continue
            state, error = collect_source(
                source, now=now, counters=counters, session=session, problems=problems
            )
            statuses.append(source_status(state))
            if error:
                errors.append(error)
                failed += 1
    finally:
        if own_session:
            session.close()

    if not rows:
        status = "error"
        errors.append("no enabled exporter sources configured")
    elif failed == len(rows):
        status = "error"
    elif failed or counters.invalid_samples or problems:
        status = "partial"
    else:
        status = "ok"
    error = "; ".join(errors + problems)[:MAX_ERROR_CHARS]
    TRAFFIC_SAMPLES.labels(result="processed").inc(counters.processed_samples)
    TRAFFIC_SAMPLES.labels(result="invalid").inc(counters.invalid_samples)
    TRAFFIC_MINUTES.labels(result="written").inc(counters.written_minutes)
    TRAFFIC_MINUTES.labels(result="replayed").inc(counters.replayed_minutes)
    result = {
        "job": job,
        "started_at": format_rfc3339(started_at),
        "finished_at": format_rfc3339(timezone.now()),
        "processed_samples": counters.processed_samples,
        "written_minutes": counters.written_minutes,
        "replayed_minutes": counters.replayed_minutes,
        "status": status,
        "error": error,
        "invalid_samples": counters.invalid_samples,
        "counter_resets": counters.counter_resets,
        "accounts_created": counters.accounts_created,
        "charged_credits": format_credits(counters.credits),
        "source_statuses": statuses,
    }
    if status == "error":
        raise CollectFailed(result)
    return result


@job
def traffic_job_run(*, job: str = "collect-and-rate", triggered_by: str = "schedule") -> JobRun:
    """collect-and-rate under the job lock `traffic.collect_and_rate`, recorded as a JobRun.

    `job` is what the run reports (`collect-and-rate` or `reconcile`); both share one lock.
    A failed run is recorded with its full result and CollectFailed is raised again.
    """
    started = timezone.now()
    try:
        return run_job(JOB_NAME, lambda: traffic_collect_and_rate(job=job), triggered_by=triggered_by)
    except CollectFailed as exc:
        run = (
            JobRun.objects.filter(job=JOB_NAME, outcome=JobRun.Outcome.ERROR, started_at__gte=started)
            .order_by("-started_at")
            .first()
        )
        if run is not None:
            run.result = {**exc.result, "status": "error"}
            run.save(update_fields=["result"])
        raise
