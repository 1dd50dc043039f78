"""Prometheus metrics of one client, registered in the registry it was given."""

from __future__ import annotations

import threading
import weakref

from prometheus_client import CollectorRegistry, Counter, Histogram

SUCCESS = "success"
RETRYING = "retrying"
BUFFER_FULL = "buffer_full"
STOPPING = "stopping"
REJECTED = "rejected"

STATUSES = (SUCCESS, RETRYING, BUFFER_FULL, STOPPING, REJECTED)

# Outcomes of one HTTP request, the label of the request duration histogram.
OUTCOMES = (
    "success",  # 2xx with a well-formed results list
    "rejected",  # 400/401/403: the whole batch is rejected
    "too_large",  # 413
    "throttled",  # 429
    "server_error",  # 5xx
    "unexpected_status",  # any other status: retried
    "bad_response",  # 2xx whose body is not the expected results list: retried
    "timeout",
    "connection_error",
)


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "tally_client_events",
            "Billing events by status: success (accepted or duplicate), retrying (one per event per "
            "failed attempt), buffer_full, stopping (refused or left undelivered at close), rejected.",
            ["status"],
            registry=registry,
        )
        self.amounts = Counter(
            "tally_client_amounts",
            "Sum of billing amounts by status and amount type (meter slug).",
            ["status", "amount_type"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "tally_client_request_duration_seconds",
            "Duration of POST /api/v1/events requests by outcome.",
            ["outcome"],
            registry=registry,
        )
        for status in STATUSES:
            self.events.labels(status=status)
        for outcome in OUTCOMES:
            self.request_duration.labels(outcome=outcome)

    def count(self, status: str, events: list) -> None:
        """Count ``events`` (objects with an ``amounts`` dict of int) under ``status``."""
        if not events:
            return
        self.events.labels(status=status).inc(len(events))
        totals: dict[str, int] = {}
        for event in events:
            for amount_type, value in event.amounts.items():
                totals[amount_type] = totals.get(amount_type, 0) + value
        for amount_type, total in totals.items():
            self.amounts.labels(status=status, amount_type=amount_type).inc(total)


_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, Metrics] = weakref.WeakKeyDictionary()
_by_registry_lock = threading.Lock()


def metrics_for(registry: CollectorRegistry) -> Metrics:
    """The metrics registered in ``registry``; clients that share a registry share (and add to) them."""
    with _by_registry_lock:
        metrics = _by_registry.get(registry)
        if metrics is None:
            metrics = _by_registry[registry] = Metrics(registry)
        return metrics
