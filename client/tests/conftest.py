"""A real HTTP fake of Tally's ``POST /api/v1/events`` on 127.0.0.1, and client fixtures.

The fake implements the ingest protocol (Bearer token, array of up to 1,000 events, per-event
accepted/duplicate/rejected, dedup by unique_key, ``{"error", "message"}`` errors) and can be
told to misbehave for the next N requests, then recover.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import wait_until

from tally_client import Client

TOKEN = "test-internal-token"
METERS = frozenset(
    {
        "container-seconds",
        "node-seconds",
        "weavenet-seconds",
        "samples",
        "traffic-bytes",
        "workspace-seconds",
    }
)
MAX_EVENTS = 1000
_ATTRIBUTION = re.compile(r"^(team|user):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# Failure modes for FakeIngestServer.fail_next
ERROR_500 = "error_500"  # 500 without storing anything
STORE_THEN_500 = "store_then_500"  # store the batch, then answer 500 (a crash after commit)
HANG = "hang"  # wait hang_seconds (past the client's timeout), then store and answer too late
THROTTLE = "throttle"  # 429 with Retry-After
DROP = "drop"  # read the request, close the connection without an answer
UNAUTHORIZED = "unauthorized"  # 401
FORBIDDEN = "forbidden"  # 403
BAD_REQUEST = "bad_request"  # 400
TOO_LARGE = "too_large"  # 413
MODES = frozenset(
    {ERROR_500, STORE_THEN_500, HANG, THROTTLE, DROP, UNAUTHORIZED, FORBIDDEN, BAD_REQUEST, TOO_LARGE}
)


@dataclass
class RequestRecord:
    at: float  # time.monotonic() when the request arrived
    keys: list[str]
    mode: str | None  # failure mode applied, None for a normal answer
    status: int | None = None  # None when the connection was dropped


@dataclass
class FakeIngestServer:
    base_url: str
    token: str = TOKEN
    hang_seconds: float = 1.0
    retry_after: str = "1"
    stored: dict[str, dict] = field(default_factory=dict)  # unique_key -> event
    stored_keys: list[str] = field(default_factory=list)  # every key stored, in order (with repeats)
    requests: list[RequestRecord] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)  # every per-event result sent back
    _failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, n: int, mode: str) -> None:
        """Misbehave in ``mode`` for the next ``n`` requests, then answer normally again."""
        if mode not in MODES:
            raise ValueError(f"unknown failure mode {mode!r}; one of {sorted(MODES)}")
        with self.lock:
            self._failures.extend([mode] * n)

    def take_failure(self) -> str | None:
        with self.lock:
            return self._failures.pop(0) if self._failures else None

    def wait_for_stored(self, count: int, timeout: float = 5.0) -> bool:
        return wait_until(lambda: len(self.stored) >= count, timeout)

    def statuses(self) -> list[str]:
        with self.lock:
            return [result["status"] for result in self.results]

    def ingest(self, events: list) -> list[dict]:
        """Validate and store a batch atomically; return the per-event results."""
        with self.lock:
            results = []
            for event in events:
                key = event.get("unique_key") if isinstance(event, dict) else None
                reason = _invalid_reason(event)
                if reason is not None:
                    result = {"unique_key": key, "status": "rejected", "reason": reason}
                elif key in self.stored:
                    result = {"unique_key": key, "status": "duplicate", "reason": None}
                else:
                    self.stored[key] = event
                    self.stored_keys.append(key)
                    result = {"unique_key": key, "status": "accepted", "reason": None}
                results.append(result)
            self.results.extend(results)
            return results


def _invalid_reason(event: object) -> str | None:
    if not isinstance(event, dict):
        return "an event must be an object"
    key = event.get("unique_key")
    if not isinstance(key, str) or not key.strip():
        return "unique_key must be a non-blank string"
    if not isinstance(event.get("attribution_id"), str) or not _ATTRIBUTION.match(event["attribution_id"]):
        return "attribution_id must be team:<uuid> or user:<uuid>"
    occurred_at = event.get("occurred_at")
    if not isinstance(occurred_at, str) or not occurred_at.endswith("Z"):
        return "occurred_at must be RFC 3339 in UTC with Z"
    try:
        datetime.fromisoformat(occurred_at)
    except ValueError:
        return "occurred_at must be RFC 3339 in UTC with Z"
    if event.get("instance_id") is not None and not isinstance(event["instance_id"], str):
        return "instance_id must be a string or null"
    amounts = event.get("amounts")
    if not isinstance(amounts, dict) or not amounts:
        return "amounts must be a non-empty object"
    for amount_type, value in amounts.items():
        if amount_type not in METERS:
            return f"unknown amount type {amount_type!r}"
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"amount {amount_type!r} must be a non-negative integer"
    if not isinstance(event.get("metadata", {}), dict):
        return "metadata must be an object"
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeIngestServer  # set on the subclass made per server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client gave up (timeout); nobody is listening

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._answer(status, {"error": code, "message": message}, headers)

    def do_POST(self) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path != "/api/v1/events":
            self._error(404, "not_found", "No such endpoint.")
            return
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        events = payload if isinstance(payload, list) else [payload]
        keys = [event.get("unique_key") for event in events if isinstance(event, dict)]
        mode = fake.take_failure()
        record = RequestRecord(at=time.monotonic(), keys=keys, mode=mode)
        with fake.lock:
            fake.requests.append(record)

        def answer(status: int, body: object, headers: dict[str, str] | None = None) -> None:
            record.status = status
            self._answer(status, body, headers)

        if mode == DROP:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode == ERROR_500:
            answer(500, {"error": "internal_error", "message": "Something broke."})
            return
        if mode == THROTTLE:
            answer(
                429,
                {"error": "throttled", "message": "Too many requests."},
                {"Retry-After": fake.retry_after},
            )
            return
        if mode == UNAUTHORIZED or self.headers.get("Authorization") != f"Bearer {fake.token}":
            answer(401, {"error": "unauthorized", "message": "Missing or invalid credentials."})
            return
        if mode == FORBIDDEN:
            answer(403, {"error": "forbidden", "message": "Not allowed for this attribution."})
            return
        if mode == BAD_REQUEST or payload is None:
            answer(400, {"error": "bad_request", "message": "The body is not valid JSON."})
            return
        if mode == TOO_LARGE or len(events) > MAX_EVENTS:
            answer(413, {"error": "payload_too_large", "message": "Too many events in one request."})
            return
        if mode == HANG:
            time.sleep(fake.hang_seconds)
        results = fake.ingest(events)
        if mode == STORE_THEN_500:
            answer(500, {"error": "internal_error", "message": "Crashed after commit."})
            return
        answer(200, {"results": results})


@pytest.fixture
def ingest_server() -> Iterator[FakeIngestServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    host, port = httpd.server_address[:2]
    fake = FakeIngestServer(base_url=f"http://{host}:{port}")
    httpd.RequestHandlerClass = type("Handler", (_Handler,), {"fake": fake})
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def make_client(ingest_server: FakeIngestServer) -> Iterator[Callable[..., Client]]:
    """Build clients against the fake with fast test timings; closes them at teardown."""
    clients: list[Client] = []

    def make(**overrides: object) -> Client:
        options: dict = {
            "base_url": ingest_server.base_url,
            "token": TOKEN,
            "retry_delay": 0.02,
            "max_retry_delay": 0.2,
            "flush_interval": 0.05,
            "timeout": 2.0,
        }
        options.update(overrides)
        client = Client(**options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close(timeout=1.0)
