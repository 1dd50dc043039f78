"""The Prometheus metrics registry; every app declares its metrics here so /metrics shows all.

With PROMETHEUS_MULTIPROC_DIR set (several gunicorn workers), /metrics aggregates every
process through prometheus_client's multiprocess collector. docs/operations.md ("Alerts") says
what each alert-worthy metric means and what to do.
"""

import logging
import os

from celery import signals
from django.conf import settings
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

logger = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

JOB_RUNS = Counter(
    "tally_job_runs_total",
    "Job runs by job and outcome (ok, partial, error; skipped: another run held the job lock).",
    ["job", "outcome"],
    registry=REGISTRY,
)
# Jobs run every minute to every hour: buckets up to half an hour.
JOB_DURATION = Histogram(
    "tally_job_duration_seconds",
    "Job run duration.",
    ["job"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 120, 300, 600, 1800),
    registry=REGISTRY,
)
JOB_LOCK_LOST = Counter(
    "tally_job_lock_lost_total",
    "Job locks lost while held (not extended in time: Redis unreachable or the process paused).",
    ["job"],
    registry=REGISTRY,
)
INGESTED_EVENTS = Counter(
    "tally_ingested_events_total",
    "Meter events by result (accepted, duplicate, rejected).",
    ["result"],
    registry=REGISTRY,
)
API_ERRORS = Counter(
    "tally_api_errors_total", "API error responses by status code.", ["status"], registry=REGISTRY
)
THROTTLED_REQUESTS = Counter(
    "tally_throttled_requests_total",
    "API requests answered 429, by throttle scope (key, user, anon, ingest, internal, auth_failure).",
    ["scope"],
    registry=REGISTRY,
)
REDIS_UNAVAILABLE = Counter(
    "tally_redis_unavailable_total",
    "Failed attempts to reach Redis, by component (throttle: the request went through unthrottled; "
    "job_lock: the job run failed).",
    ["component"],
    registry=REGISTRY,
)


def exposed_registry() -> CollectorRegistry:
    """REGISTRY, or every process's metrics when PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def render_latest() -> bytes:
    return generate_latest(exposed_registry())


def serve_worker_metrics(*, port: int, addr: str):
    """An HTTP /metrics of this Celery worker (jobs run there, not in the web processes)."""
    server, _thread = start_http_server(port, addr=addr, registry=exposed_registry())
    logger.info("Worker metrics on http://%s:%s/metrics", addr, server.server_port)
    return server


@signals.worker_ready.connect(dispatch_uid="core.metrics.worker_ready")
def _worker_ready(**kwargs) -> None:
    if settings.TALLY_WORKER_METRICS_PORT:
        serve_worker_metrics(port=settings.TALLY_WORKER_METRICS_PORT, addr=settings.TALLY_WORKER_METRICS_ADDR)
