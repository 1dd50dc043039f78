"""A realistic xray-exporter for tests, the demo and the benchmark (standard library + orjson).

It serves `GET /v1/snapshots/window?since&until&limit&cursor` with Bearer auth from generated
cumulative counters, with real pagination (the cursor is the `collected_at` of a page's last
snapshot; a page holds snapshots with since <= collected_at <= until after the cursor), and
with injectable faults. Nothing here imports Django.

    generator = TrafficGenerator(node_id="node-a", accounts=make_accounts(20), seed=1)
    generator.advance(until=now, interval=timedelta(seconds=60))
    exporter = FakeExporter(generator, token="secret")
    with ExporterServer(exporter) as server:       # server.url → http://127.0.0.1:<port>
        exporter.inject("timeout", delay=3)        # the next request answers after 3 s
        exporter.inject("error", status=500, times=2)
        generator.restart()                        # the next snapshot starts from zero
        ...
    generator.billable_bytes(through=until)        # what billing must have charged

Faults (`FakeExporter.inject(kind, times=1, **options)`), consumed one per request in order:
`none` (answer normally: a placeholder to aim a later fault at a later request), `timeout`
(answer after `delay` seconds), `error` (HTTP `status`, default 500), `drop` (close the
connection without an answer), `bad_json`, `wrong_node` / `wrong_env` (a page from another
node or env), `replay` (serve the previous answer again: a stale, replayed page),
`no_cursor` (has_more without next_cursor), `hang` (block until `release()`; `hanging` is set
meanwhile). `generator.restart()` is a counter reset (the exporter restarted).

Run it for the demo: `python -m devtools.exporter --port 9100 --token demo-internal-token`.
"""

import argparse
import bisect
import contextlib
import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import orjson

MAX_LIMIT = 1000


def rfc3339(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else None


@dataclass(frozen=True)
class FakeAccount:
    uuid: str
    email: str
    inbound_tags: tuple[str, ...] = ("xhttp",)


def make_accounts(
    count: int, *, seed: int = 0, tags: tuple[str, ...] = ("xhttp", "tcp")
) -> list[FakeAccount]:
    """`count` accounts with stable uuids; every third one uses two inbound tags."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    accounts = []
    for n in range(count):
        account_uuid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        account_tags = tags[:2] if n % 3 == 0 and len(tags) > 1 else tags[:1]
        accounts.append(
            FakeAccount(uuid=account_uuid, email=f"user{n}@example.com", inbound_tags=account_tags)
        )
    return accounts


class TrafficGenerator:
    """Cumulative uplink/downlink counters per (account, inbound tag) on one node.

    `billable_bytes()` is the true traffic as billing must find it: every increment between
    two snapshots, and after a restart the counters' new totals. A restart always leaves a
    counter lower than before (otherwise no puller could tell it from traffic).
    """

    def __init__(
        self,
        *,
        node_id: str,
        accounts: list[FakeAccount],
        env: str = "prod",
        seed: int = 0,
        max_bytes: int = 50_000,
        idle_share: float = 0.2,
    ):
        self.node_id = node_id
        self.env = env
        self.accounts = list(accounts)
        self.rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
        self.max_bytes = max_bytes
        self.idle_share = idle_share
        self.counters: dict[tuple[str, str], list[int]] = {
            (a.uuid, t): [0, 0] for a in self.accounts for t in a.inbound_tags
        }
        self.times: list[datetime] = []
        self.snapshots: list[dict] = []
        self._billable: list[dict[str, int]] = []  # per snapshot, bytes it added per account
        self._restart_pending = False
        self.lock = threading.Lock()

    def restart(self) -> None:
        """The exporter (or Xray) restarts before the next snapshot: counters start from zero."""
        with self.lock:
            self._restart_pending = True

    def _traffic(self, account: FakeAccount) -> tuple[int, int]:
        if self.rng.random() < self.idle_share:
            return 0, 0
        return self.rng.randint(1, self.max_bytes), self.rng.randint(0, self.max_bytes)

    def snapshot(self, collected_at: datetime, traffic: dict[str, tuple[int, int]] | None = None) -> dict:
        """Record one snapshot at `collected_at` after the given (or random) traffic per uuid."""
        with self.lock:
            if self.times and collected_at <= self.times[-1]:
                raise ValueError("snapshots are recorded in time order")
            restarting, self._restart_pending = self._restart_pending, False
            added: dict[str, int] = {}
            samples = []
            for account in self.accounts:
                up, down = (
                    traffic.get(account.uuid, (0, 0)) if traffic is not None else self._traffic(account)
                )
                tags = account.inbound_tags
                before_up = sum(self.counters[(account.uuid, t)][0] for t in tags)
                before_down = sum(self.counters[(account.uuid, t)][1] for t in tags)
                if restarting:
                    if before_up > 0:
                        up = min(up, before_up - 1)
                    elif before_down > 0:
                        down = min(down, before_down - 1)
                    for t in tags:
                        self.counters[(account.uuid, t)] = [0, 0]
                # Spread the traffic over the account's inbound tags.
                for index, t in enumerate(tags):
                    share_up = up // len(tags) + (up % len(tags) if index == 0 else 0)
                    share_down = down // len(tags) + (down % len(tags) if index == 0 else 0)
                    self.counters[(account.uuid, t)][0] += share_up
                    self.counters[(account.uuid, t)][1] += share_down
                added[account.uuid] = up + down
                for t in tags:
                    total_up, total_down = self.counters[(account.uuid, t)]
                    samples.append(
                        {
                            "uuid": account.uuid,
                            "email": account.email,
                            "inbound_tag": t,
                            "uplink_bytes_total": total_up,
                            "downlink_bytes_total": total_down,
                        }
                    )
            snapshot = {
                "collected_at": rfc3339(collected_at),
                "node_id": self.node_id,
                "env": self.env,
                "samples": samples,
            }
            self.times.append(collected_at)
            self.snapshots.append(snapshot)
            self._billable.append(added)
            return snapshot

    def advance(self, *, until: datetime, interval: timedelta, start: datetime | None = None) -> int:
        """Record snapshots every `interval` after the last one (or from `start`) up to `until`."""
        made = 0
        moment = self.times[-1] + interval if self.times else (start or until)
        while moment <= until:
            self.snapshot(moment)
            moment += interval
            made += 1
        return made

    def billable_bytes(self, *, through: datetime | None = None, account_uuid: str | None = None) -> int:
        """True traffic of snapshots collected at or before `through` (every account, or one)."""
        with self.lock:
            end = len(self.times) if through is None else bisect.bisect_right(self.times, through)
            return sum(
                sum(added.values()) if account_uuid is None else added.get(account_uuid, 0)
                for added in self._billable[:end]
            )

    def window(self, since: datetime | None, until: datetime | None, after: datetime | None) -> list[dict]:
        with self.lock:
            lo = 0 if since is None else bisect.bisect_left(self.times, since)
            if after is not None:
                lo = max(lo, bisect.bisect_right(self.times, after))
            hi = len(self.times) if until is None else bisect.bisect_right(self.times, until)
            return self.snapshots[lo:hi]


@dataclass
class Fault:
    kind: str
    delay: float = 0.0
    status: int = 500


KINDS = {
    "none",
    "timeout",
    "error",
    "drop",
    "bad_json",
    "wrong_node",
    "wrong_env",
    "replay",
    "no_cursor",
    "hang",
}


@dataclass
class ServedRequest:
    params: dict
    fault: str | None
    status: int
    snapshots: int


class FakeExporter:
    """The window endpoint over a generator, with a queue of faults for the next requests."""

    def __init__(self, generator: TrafficGenerator, *, token: str):
        self.generator = generator
        self.token = token
        self.faults: deque[Fault] = deque()
        self.served: list[ServedRequest] = []
        self.last_body: bytes | None = None
        self.hanging = threading.Event()
        self._release = threading.Event()
        self.lock = threading.Lock()

    def inject(self, kind: str, *, times: int = 1, delay: float = 0.0, status: int = 500) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(KINDS)}")
        with self.lock:
            self.faults.extend(Fault(kind=kind, delay=delay, status=status) for _ in range(times))

    def release(self) -> None:
        self._release.set()

    def next_fault(self) -> Fault | None:
        with self.lock:
            return self.faults.popleft() if self.faults else None

    def page(self, query: dict[str, str]) -> dict:
        since, until = parse_time(query.get("since")), parse_time(query.get("until"))
        try:
            limit = int(query.get("limit") or MAX_LIMIT)
        except ValueError:
            limit = MAX_LIMIT
        limit = MAX_LIMIT if limit <= 0 or limit > MAX_LIMIT else limit
        snapshots = self.generator.window(since, until, parse_time(query.get("cursor")))
        chosen = snapshots[:limit]
        page = {
            "node_id": self.generator.node_id,
            "env": self.generator.env,
            "snapshots": chosen,
            "has_more": len(snapshots) > limit,
        }
        if page["has_more"]:
            page["next_cursor"] = chosen[-1]["collected_at"]
        return page

    def handle(self, query: dict[str, str], fault: Fault | None) -> tuple[int, bytes]:
        kind = fault.kind if fault else None
        if kind == "error":
            return fault.status, b'{"error": "injected failure"}'
        if kind == "bad_json":
            return 200, b'{"snapshots": [ this is not json'
        if kind == "replay" and self.last_body is not None:
            return 200, self.last_body
        page = self.page(query)
        if kind in ("wrong_node", "wrong_env"):
            key, value = ("node_id", "wrong-node.example") if kind == "wrong_node" else ("env", "wrong-env")
            page = {**page, key: value, "snapshots": [{**s, key: value} for s in page["snapshots"]]}
        if kind == "no_cursor":
            page = {**page, "has_more": True}
            page.pop("next_cursor", None)
        body = orjson.dumps(page)
        if kind in (None, "none"):
            self.last_body = body
        return 200, body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    exporter: FakeExporter

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        exporter = self.exporter
        parts = urlsplit(self.path)
        if parts.path == "/healthz":
            self._send(200, b'{"status": "ok"}')
            return
        if parts.path != "/v1/snapshots/window":
            self._send(404, b'{"error": "not found"}')
            return
        if not exporter.token or self.headers.get("Authorization", "") != f"Bearer {exporter.token}":
            self._send(401, b'{"error": "unauthorized"}')
            return
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        fault = exporter.next_fault()
        kind = fault.kind if fault else None
        if kind == "hang":
            exporter.hanging.set()
            exporter._release.wait()
        if kind == "timeout":
            time.sleep(fault.delay)
        if kind == "drop":
            exporter.served.append(ServedRequest(query, kind, 0, 0))
            self.close_connection = True
            self.connection.close()
            return
        status, body = exporter.handle(query, fault)
        exporter.served.append(ServedRequest(query, kind, status, body.count(b'"collected_at"')))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
            self._send(status, body)


class ExporterServer:
    """The fake exporter on 127.0.0.1 (an ephemeral port unless one is given), in a thread."""

    def __init__(self, exporter: FakeExporter, *, host: str = "127.0.0.1", port: int = 0):
        handler = type("Handler", (_Handler,), {"exporter": exporter})
        self.exporter = exporter
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self.thread: threading.Thread | None = None

    def start(self) -> "ExporterServer":
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-exporter", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.exporter.release()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "ExporterServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class LiveClock:
    """Records a snapshot every `interval` in real time (the demo's exporter)."""

    generator: TrafficGenerator
    interval: timedelta
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.generator.advance(until=datetime.now(UTC), interval=self.interval)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake xray-exporter serving generated traffic.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--token", default="demo-internal-token")
    parser.add_argument("--node-id", default="demo-node.example")
    parser.add_argument("--env", default="prod")
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--interval", type=int, default=60, help="seconds between snapshots")
    parser.add_argument("--history-minutes", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    generator = TrafficGenerator(
        node_id=args.node_id,
        env=args.env,
        accounts=make_accounts(args.accounts, seed=args.seed),
        seed=args.seed,
    )
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    interval = timedelta(seconds=args.interval)
    generator.advance(start=now - timedelta(minutes=args.history_minutes), until=now, interval=interval)
    clock = LiveClock(generator, interval)
    threading.Thread(target=clock.run, daemon=True).start()
    server = ExporterServer(FakeExporter(generator, token=args.token), host=args.host, port=args.port)
    print(f"fake exporter for {args.accounts} accounts on {server.url} (node {args.node_id})", flush=True)
    try:
        server.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        clock.stop.set()


if __name__ == "__main__":
    main()
