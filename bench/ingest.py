"""Ingest benchmark: drive a RUNNING Tally server with concurrent clients; start nothing.

Each client sends batches of 1,000 events (10 % of them repeat a key already sent, so the
dedup path is exercised) over keep-alive HTTP. Payloads are encoded before the clock starts,
so the figure is the server's, not the generator's JSON encoder. Prints events/s per run and
the median, p50/p99 batch latency, and checks that the server stored exactly the unique
events (from the responses, and from the database when --database-url is given).

    # terminal 1: a server on PostgreSQL (see `make bench-server`)
    # terminal 2:
    .venv/bin/python bench/ingest.py --url http://127.0.0.1:8100 --token bench-token \
        --clients 4 --batches 40 --runs 3 --database-url postgres://postgres@127.0.0.1:5432/tally_bench
"""

import argparse
import http.client
import os
import platform
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import orjson

BATCH = 1000
DUPLICATE_SHARE = 0.10


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {system}"


def build_batches(clients: int, batches: int, run_id: str) -> tuple[list[list[bytes]], int, list[str]]:
    """Per client, `batches` encoded payloads; returns them, the unique event count and attributions."""
    now = datetime.now(UTC) - timedelta(minutes=1)
    attributions = [f"team:{uuid.uuid4()}" for _ in range(clients)]
    per_client: list[list[bytes]] = []
    unique = 0
    fresh_per_batch = int(BATCH * (1 - DUPLICATE_SHARE))
    for c in range(clients):
        sent_keys: list[str] = []
        payloads = []
        for b in range(batches):
            events = []
            for n in range(fresh_per_batch):
                key = f"{run_id}-{c}-{b}-{n}"
                sent_keys.append(key)
                events.append(
                    {
                        "unique_key": key,
                        "attribution_id": attributions[c],
                        "occurred_at": (now - timedelta(seconds=n % 600)).isoformat().replace("+00:00", "Z"),
                        "amounts": {"samples": 1 + n % 50},
                    }
                )
            # 10 % repeats: keys this client sent before (or earlier in this batch).
            for n in range(BATCH - fresh_per_batch):
                repeat = events[n] if len(sent_keys) < BATCH else None
                key = (
                    sent_keys[(b * 7919 + n * 104729) % len(sent_keys)]
                    if repeat is None
                    else repeat["unique_key"]
                )
                events.append(
                    {
                        "unique_key": key,
                        "attribution_id": attributions[c],
                        "occurred_at": now.isoformat().replace("+00:00", "Z"),
                        "amounts": {"samples": 1},
                    }
                )
            unique += fresh_per_batch
            payloads.append(orjson.dumps(events))
        per_client.append(payloads)
    return per_client, unique, attributions


def run_client(
    url: str, token: str, payloads: list[bytes], latencies: list[float], counts: dict, lock
) -> None:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    accepted = duplicates = rejected = 0
    for payload in payloads:
        started = time.perf_counter()
        conn.request("POST", "/api/v1/events", body=payload, headers=headers)
        response = conn.getresponse()
        body = response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            raise SystemExit(f"server answered {response.status}: {body[:300]!r}")
        result = orjson.loads(body)
        accepted += result["accepted"]
        duplicates += result["duplicates"]
        rejected += result["rejected"]
    conn.close()
    with lock:
        counts["accepted"] += accepted
        counts["duplicates"] += duplicates
        counts["rejected"] += rejected


def stored_count(database_url: str, attributions: list[str]) -> int:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT COUNT(*) FROM usage_meterevent WHERE attribution_id = ANY(%s)", [attributions]
        ).fetchone()[0]


def one_run(args, run_no: int) -> dict:
    payloads, unique, attributions = build_batches(
        args.clients, args.batches, f"r{run_no}-{uuid.uuid4().hex[:8]}"
    )
    latencies: list[float] = []
    counts = {"accepted": 0, "duplicates": 0, "rejected": 0}
    lock = threading.Lock()
    threads = [
        threading.Thread(target=run_client, args=(args.url, args.token, p, latencies, counts, lock))
        for p in payloads
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    sent = args.clients * args.batches * BATCH
    latencies.sort()
    result = {
        "events_sent": sent,
        "events_per_s": sent / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "unique": unique,
        **counts,
    }
    if counts["accepted"] != unique or counts["rejected"]:
        raise SystemExit(f"MISMATCH: {unique} unique events, server accepted {counts['accepted']}: {counts}")
    if args.database_url:
        stored = stored_count(args.database_url, attributions)
        result["stored"] = stored
        if stored != unique:
            raise SystemExit(f"MISMATCH: {unique} unique events, {stored} stored")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8100")
    parser.add_argument("--token", default=os.environ.get("INTERNAL_SERVICE_TOKEN", "bench-token"))
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batches", type=int, default=30, help="batches of 1,000 per client per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    args = parser.parse_args()

    print(f"machine: {machine()}")
    print(
        f"target: {args.url}, {args.clients} clients x {args.batches} batches of {BATCH}"
        " (10 % duplicate keys)"
    )
    rates = []
    for run_no in range(1, args.runs + 1):
        r = one_run(args, run_no)
        rates.append(r["events_per_s"])
        stored = f", stored {r['stored']}" if "stored" in r else ""
        print(
            f"run {run_no}: {r['events_per_s']:,.0f} events/s"
            f"  batch p50 {r['p50_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms"
            f"  accepted {r['accepted']:,} duplicates {r['duplicates']:,} of {r['events_sent']:,}"
            f" (unique {r['unique']:,}{stored}) OK"
        )
    print(f"median: {statistics.median(rates):,.0f} events/s over {args.runs} runs")


if __name__ == "__main__":
    main()
