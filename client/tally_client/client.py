"""The buffered event client: ``add_amounts`` never blocks, a sender thread delivers in batches."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from prometheus_client import CollectorRegistry

from . import __version__
from .errors import BufferFullError, ClientClosedError
from .metrics import BUFFER_FULL, REJECTED, RETRYING, STOPPING, SUCCESS, metrics_for

logger = logging.getLogger("tally_client")

EVENTS_PATH = "/api/v1/events"
MAX_BATCH_SIZE = 1000  # the server takes at most this many events per request
MAX_RETRY_AFTER = 300.0  # seconds; a longer Retry-After is capped to this
_ATTRIBUTION_KINDS = ("team", "user")


@dataclass(frozen=True, slots=True)
class _Event:
    unique_key: str
    amounts: dict[str, int]
    body: bytes  # the event's JSON object, encoded once when it is added


# What one attempt to send a batch came to.
@dataclass(frozen=True, slots=True)
class _Resolved:
    statuses: list[tuple[str, str | None]]  # (status, reason) per event, in request order


@dataclass(frozen=True, slots=True)
class _RejectAll:
    reason: str


@dataclass(frozen=True, slots=True)
class _Split:
    pass


@dataclass(frozen=True, slots=True)
class _Retry:
    reason: str
    retry_after: float | None = None


class Client:
    """Buffers billing events and delivers them to Tally's ``POST /api/v1/events``.

    ``add_amounts`` validates an event and puts it in an in-memory buffer; it never does I/O
    and never blocks. A background thread sends batches of up to ``batch_size`` events as soon
    as that many are buffered, or every ``flush_interval`` seconds. A batch that fails (5xx,
    429, timeout, connection error) is kept and retried with the same unique keys until it is
    delivered or the client is closed, so the server counts every event exactly once.

    Call :meth:`close` (or use the client as a context manager) before the process exits.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        max_buffered_events: int = 1024,
        retry_delay: float = 0.5,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        timeout: float = 10.0,
        registry: CollectorRegistry | None = None,
        *,
        max_retry_delay: float = 30.0,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http:// or https:// URL")
        if not isinstance(token, str) or not token.strip():
            raise ValueError("token must be a non-blank string")
        _check_int("max_buffered_events", max_buffered_events, 1, None)
        _check_int("batch_size", batch_size, 1, MAX_BATCH_SIZE)
        _check_positive("retry_delay", retry_delay)
        _check_positive("flush_interval", flush_interval)
        _check_positive("timeout", timeout)
        _check_positive("max_retry_delay", max_retry_delay)
        if max_retry_delay < retry_delay:
            raise ValueError("max_retry_delay must not be less than retry_delay")

        self._url = base_url.rstrip("/") + EVENTS_PATH
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"tally-client/{__version__}",
        }
        self._max_buffered = max_buffered_events
        self._batch_size = batch_size
        self._retry_delay = float(retry_delay)
        self._max_retry_delay = float(max_retry_delay)
        self._flush_interval = float(flush_interval)
        self._timeout = float(timeout)

        self.registry = registry if registry is not None else CollectorRegistry()
        self._metrics = metrics_for(self.registry)

        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[_Event] = deque()  # waiting to be sent
        self._inflight: list[_Event] = []  # the batch the sender is working on
        self._closing = False  # set by close(): no new events
        self._stopped = False  # set by close() when its time is up: the sender must quit
        self._close_deadline: float | None = None
        self._close_generation = 0  # bumped by close() to cut a retry wait short
        self._close_lock = threading.Lock()
        self._undelivered_at_close: int | None = None

        self._session = requests.Session()
        self._thread = threading.Thread(target=self._run, name="tally-client-sender", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ public API

    def add_amounts(
        self,
        unique_key: str,
        attribution_id: str,
        timestamp: datetime,
        amounts: Mapping[str, int],
        metadata: Mapping[str, Any] | None = None,
        instance_id: str | None = None,
    ) -> None:
        """Buffer one event for delivery. Never blocks and never does I/O.

        Raises ``ValueError``/``TypeError`` for bad input, :class:`BufferFullError` when
        ``max_buffered_events`` events are already undelivered, and :class:`ClientClosedError`
        once :meth:`close` was called.
        """
        event = _build_event(unique_key, attribution_id, timestamp, amounts, metadata, instance_id)
        refused: str | None = None
        with self._cond:
            if self._closing:
                refused = STOPPING
            elif len(self._queue) + len(self._inflight) >= self._max_buffered:
                refused = BUFFER_FULL
            else:
                self._queue.append(event)
                if len(self._queue) >= self._batch_size:
                    self._cond.notify_all()
        if refused == STOPPING:
            self._metrics.count(STOPPING, [event])
            raise ClientClosedError("the billing client is closed; the event was not taken")
        if refused == BUFFER_FULL:
            self._metrics.count(BUFFER_FULL, [event])
            raise BufferFullError(
                f"the billing client already holds {self._max_buffered} undelivered events; "
                "the event was not taken"
            )

    def close(self, timeout: float | None = 10.0) -> int:
        """Stop taking events, deliver what can be delivered within ``timeout`` seconds.

        Returns the number of events that were not delivered (0 when everything went out);
        they are counted with status ``stopping``. ``timeout=None`` waits as long as it takes.
        Calling ``close`` again returns the same number at once.
        """
        if timeout is not None:
            _check_non_negative("timeout", timeout)
        with self._close_lock:
            with self._cond:
                if self._undelivered_at_close is not None:
                    return self._undelivered_at_close
                self._closing = True
                self._close_deadline = None if timeout is None else time.monotonic() + timeout
                self._close_generation += 1
                self._cond.notify_all()
            self._thread.join(timeout)
            with self._cond:
                self._stopped = True
                self._cond.notify_all()
                lost = self._inflight + list(self._queue)
                self._inflight = []
                self._queue.clear()
                self._undelivered_at_close = len(lost)
            if lost:
                self._metrics.count(STOPPING, lost)
                logger.error(
                    "tally client closed with %d undelivered events (first unique_key %r)",
                    len(lost),
                    lost[0].unique_key,
                )
            return len(lost)

    @property
    def undelivered(self) -> int:
        """Events taken but not yet delivered or rejected; after close, what close() returned."""
        with self._cond:
            if self._undelivered_at_close is not None:
                return self._undelivered_at_close
            return len(self._queue) + len(self._inflight)

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closing

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ sender thread

    def _run(self) -> None:
        try:
            while True:
                batch = self._take_batch()
                if batch is None:
                    return
                self._deliver(batch)
        finally:
            self._session.close()

    def _take_batch(self) -> list[_Event] | None:
        """Wait for a full batch or the flush interval; None when the sender should quit."""
        with self._cond:
            deadline = time.monotonic() + self._flush_interval
            while True:
                if self._stopped:
                    return None
                if len(self._queue) >= self._batch_size or (self._closing and self._queue):
                    break
                if self._closing:
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if self._queue:
                        break
                    deadline = time.monotonic() + self._flush_interval
                    remaining = self._flush_interval
                self._cond.wait(remaining)
            count = min(self._batch_size, len(self._queue))
            self._inflight = [self._queue.popleft() for _ in range(count)]
            return list(self._inflight)

    def _deliver(self, batch: list[_Event]) -> None:
        """Send ``batch`` until each event is accepted, duplicate or rejected, or close() gives up."""
        attempt = 0
        while batch:
            with self._cond:
                if self._stopped:
                    return
                request_timeout = self._timeout
                if self._close_deadline is not None:
                    left = self._close_deadline - time.monotonic()
                    request_timeout = max(min(request_timeout, left), 0.05)
            outcome = self._send(batch, request_timeout)

            succeeded: list[_Event] = []
            rejected: list[tuple[_Event, str]] = []
            with self._cond:
                if self._stopped:
                    # close() gave up on this batch and counted it as stopping.
                    logger.info("tally client: dropping the outcome of a request that ended after close")
                    return
                if isinstance(outcome, _Resolved):
                    for event, (status, reason) in zip(batch, outcome.statuses, strict=True):
                        if status == "rejected":
                            rejected.append((event, reason or "no reason given"))
                        else:
                            succeeded.append(event)
                    batch = []
                elif isinstance(outcome, _RejectAll):
                    rejected = [(event, outcome.reason) for event in batch]
                    batch = []
                elif isinstance(outcome, _Split):
                    # 413: send the first half now, put the second half back at the front.
                    half = len(batch) // 2
                    self._queue.extendleft(reversed(batch[half:]))
                    batch = batch[:half]
                self._inflight = list(batch)

            self._metrics.count(SUCCESS, succeeded)
            if rejected:
                self._metrics.count(REJECTED, [event for event, _ in rejected])
                _log_rejected(rejected)
            if not batch or isinstance(outcome, _Split):
                continue

            assert isinstance(outcome, _Retry)
            self._metrics.count(RETRYING, batch)
            attempt += 1
            if outcome.retry_after is not None:
                delay = min(max(outcome.retry_after, self._retry_delay), MAX_RETRY_AFTER)
            else:
                backoff = self._retry_delay * 2 ** min(attempt - 1, 30)
                delay = min(backoff, self._max_retry_delay) * random.uniform(1.0, 1.25)  # noqa: S311
            logger.warning(
                "tally client: sending %d events failed (%s); attempt %d, retrying in %.2fs",
                len(batch),
                outcome.reason,
                attempt,
                delay,
            )
            if not self._wait_before_retry(delay):
                return

    def _wait_before_retry(self, delay: float) -> bool:
        """Sleep ``delay`` seconds; close() cuts the wait short once. False when stopped."""
        with self._cond:
            generation = self._close_generation
            self._cond.wait_for(lambda: self._stopped or self._close_generation != generation, timeout=delay)
            return not self._stopped

    def _send(self, batch: list[_Event], timeout: float) -> _Resolved | _RejectAll | _Split | _Retry:
        body = b"[" + b",".join(event.body for event in batch) + b"]"
        started = time.monotonic()
        outcome_label, outcome = self._post(body, batch, timeout)
        self._metrics.request_duration.labels(outcome=outcome_label).observe(time.monotonic() - started)
        return outcome

    def _post(
        self, body: bytes, batch: list[_Event], timeout: float
    ) -> tuple[str, _Resolved | _RejectAll | _Split | _Retry]:
        try:
            response = self._session.post(self._url, data=body, headers=self._headers, timeout=timeout)
        except requests.Timeout as exc:
            return "timeout", _Retry(f"timeout: {exc}")
        except requests.RequestException as exc:
            return "connection_error", _Retry(f"connection error: {exc}")
        except Exception as exc:  # never let the sender thread die
            logger.exception("tally client: unexpected error while sending")
            return "connection_error", _Retry(f"unexpected error: {exc!r}")

        status = response.status_code
        if 200 <= status < 300:
            statuses = _parse_results(response, batch)
            if statuses is None:
                return "bad_response", _Retry(f"HTTP {status} with an unexpected body")
            return "success", _Resolved(statuses)
        if status == 429:
            return "throttled", _Retry("HTTP 429", _parse_retry_after(response))
        if status == 413:
            if len(batch) > 1:
                return "too_large", _Split()
            return "too_large", _RejectAll(_error_text(response))
        if status in (400, 401, 403):
            return "rejected", _RejectAll(_error_text(response))
        if status >= 500:
            return "server_error", _Retry(_error_text(response))
        return "unexpected_status", _Retry(_error_text(response))


# ---------------------------------------------------------------------- helpers


def _build_event(
    unique_key: object,
    attribution_id: object,
    timestamp: object,
    amounts: object,
    metadata: object,
    instance_id: object,
) -> _Event:
    if not isinstance(unique_key, str):
        raise TypeError("unique_key must be a str")
    if not unique_key.strip():
        raise ValueError("unique_key must not be blank")
    attribution = _normalize_attribution(attribution_id)
    occurred_at = _format_timestamp(timestamp)

    if not isinstance(amounts, Mapping):
        raise TypeError("amounts must be a mapping of amount type to int")
    if not amounts:
        raise ValueError("amounts must not be empty")
    checked: dict[str, int] = {}
    for amount_type, value in amounts.items():
        if not isinstance(amount_type, str):
            raise TypeError("amount types must be str")
        if not amount_type.strip():
            raise ValueError("amount types must not be blank")
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"amount {amount_type!r} must be an int, not {type(value).__name__}")
        if value < 0:
            raise ValueError(f"amount {amount_type!r} must not be negative")
        checked[amount_type] = int(value)

    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise TypeError("metadata must be a mapping")
    if not all(isinstance(key, str) for key in metadata):
        raise TypeError("metadata keys must be str")
    if instance_id is not None and not isinstance(instance_id, str):
        raise TypeError("instance_id must be a str or None")

    document = {
        "unique_key": unique_key,
        "attribution_id": attribution,
        "instance_id": instance_id,
        "occurred_at": occurred_at,
        "amounts": checked,
        "metadata": dict(metadata),
    }
    try:
        body = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
    except ValueError as exc:
        raise ValueError(f"metadata is not valid JSON: {exc}") from exc
    except TypeError as exc:
        raise TypeError(f"metadata is not JSON-serializable: {exc}") from exc
    return _Event(unique_key=unique_key, amounts=checked, body=body)


def _normalize_attribution(attribution_id: object) -> str:
    if not isinstance(attribution_id, str):
        raise TypeError("attribution_id must be a str")
    kind, sep, rest = attribution_id.partition(":")
    if not sep or kind not in _ATTRIBUTION_KINDS:
        raise ValueError(f"attribution_id must be 'team:<uuid>' or 'user:<uuid>', got {attribution_id!r}")
    try:
        parsed = uuid.UUID(rest)
    except ValueError:
        raise ValueError(
            f"attribution_id must be 'team:<uuid>' or 'user:<uuid>', got {attribution_id!r}"
        ) from None
    return f"{kind}:{parsed}"


def _format_timestamp(timestamp: object) -> str:
    if not isinstance(timestamp, datetime):
        raise TypeError("timestamp must be a datetime")
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware")
    return timestamp.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def _parse_results(response: requests.Response, batch: list[_Event]) -> list[tuple[str, str | None]] | None:
    """The per-event (status, reason) list, or None when the body is not what the protocol says."""
    try:
        payload = response.json()
    except ValueError:
        return None
    results = payload.get("results") if isinstance(payload, dict) else None
    if not isinstance(results, list) or len(results) != len(batch):
        return None
    statuses: list[tuple[str, str | None]] = []
    for event, result in zip(batch, results, strict=True):
        if not isinstance(result, dict) or result.get("unique_key") != event.unique_key:
            return None
        status = result.get("status")
        if status not in ("accepted", "duplicate", "rejected"):
            return None
        reason = result.get("reason")
        statuses.append((status, reason if isinstance(reason, str) else None))
    return statuses


def _parse_retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _error_text(response: requests.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and ("error" in payload or "message" in payload):
        return f"HTTP {response.status_code} {payload.get('error')}: {payload.get('message')}"
    return f"HTTP {response.status_code}: {response.text[:200]!r}"


def _log_rejected(rejected: list[tuple[_Event, str]]) -> None:
    first, first_reason = rejected[0]
    logger.error(
        "tally client: server rejected %d events; they will not be retried (first: unique_key %r: %s)",
        len(rejected),
        first.unique_key,
        first_reason,
    )
    for event, reason in rejected[1:]:
        logger.debug("tally client: rejected unique_key %r: %s", event.unique_key, reason)


def _check_int(name: str, value: object, minimum: int, maximum: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ValueError(f"{name} must be at least {minimum}{upper}")


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds")
    if not value > 0:
        raise ValueError(f"{name} must be positive")


def _check_non_negative(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds")
    if not value >= 0:
        raise ValueError(f"{name} must not be negative")
