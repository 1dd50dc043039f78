"""collect-and-rate benchmark: samples rated per minute, 10,000 accounts across 4 exporter sources.

Four fake exporters (devtools.exporter, real HTTP on 127.0.0.1) run in a child process
with the same deterministic counters this process regenerates to check the result. A warm-up
run sees every account for the first time (accounts, quota states and counter states are
created; reported apart). Each timed run then pulls `--minutes` new minutes of snapshots from
every source (one snapshot per source per minute, every account on it), writes the minute
facts and usage entries and rates them, exactly as the scheduled job does. The benchmark checks
at the end that each account's billed bytes equal its true traffic, and prints the
collector's peak RSS (measured before that check builds its own copy of the counters).

    .venv/bin/python bench/collect.py --database-url postgres://postgres@127.0.0.1:5432/tally_bench_collect

The database is created and migrated when missing; its traffic tables and usage entries are
emptied first (use a database of its own).
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
TOKEN = "bench-exporter-token"
WARMUP_MINUTES = 3


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {system}"


def build_generators(accounts: int, sources: int, total_minutes: int):
    """The same counters in every process: `sources` nodes, accounts split evenly among them."""
    from devtools.exporter import TrafficGenerator, make_accounts

    everyone = make_accounts(accounts, seed=2026)
    generators = []
    for index in range(sources):
        generator = TrafficGenerator(
            node_id=f"bench-node-{index}",
            accounts=everyone[index::sources],
            seed=index,
            max_bytes=5_000_000,
            idle_share=0.1,
        )
        generator.advance(
            start=T0, until=T0 + timedelta(minutes=total_minutes), interval=timedelta(minutes=1)
        )
        generators.append(generator)
    return generators


def serve_exporters(args) -> None:
    """Child process: the exporters, serving until stdin closes."""
    from devtools.exporter import ExporterServer, FakeExporter

    generators = build_generators(args.accounts, args.sources, args.total_minutes)
    servers = [ExporterServer(FakeExporter(g, token=TOKEN)).start() for g in generators]
    print(json.dumps([s.url for s in servers]), flush=True)
    sys.stdin.read()
    for server in servers:
        server.stop()


def prepare_database(url: str) -> None:
    from devtools.pgadmin import ensure_database

    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["DJANGO_DEBUG"] = "false"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE usage_trafficminute, usage_trafficcounterstate, usage_trafficquotastate,"
            " usage_trafficaccount CASCADE"
        )
        cursor.execute("TRUNCATE usage_trafficsourcestate, usage_exportersource, usage_usageentry")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/tally_bench_collect", help="PostgreSQL"
    )
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--minutes", type=int, default=20, help="new minutes per timed run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--serve-exporters", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--total-minutes", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.total_minutes = args.total_minutes or WARMUP_MINUTES + args.runs * args.minutes + 2
    if args.serve_exporters:
        serve_exporters(args)
        return 0

    print(f"machine: {machine()}")
    print(
        f"{args.accounts:,} accounts across {args.sources} sources; "
        f"{args.runs} runs of {args.minutes} new minutes"
    )
    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve-exporters",
            *sys.argv[1:],
            "--total-minutes",
            str(args.total_minutes),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        urls = json.loads(child.stdout.readline())
        prepare_database(args.database_url)
        return run(args, urls)
    finally:
        child.stdin.close()
        child.wait(timeout=30)


def run(args, urls: list[str]) -> int:
    from django.db import connection
    from django.db.models import Sum

    from traffic.models import ExporterSource, TrafficMinute
    from traffic.services import exporter_source_set_token, traffic_collect_and_rate

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        print(f"database: {cursor.fetchone()[0].split(' on ')[0]}")
    for index, url in enumerate(urls):
        source = ExporterSource(
            source_id=f"bench-{index}", base_url=url, expected_node_id=f"bench-node-{index}"
        )
        exporter_source_set_token(source=source, token=TOKEN)
        source.save()

    def check(until: datetime) -> bool:
        """Built after the runs, so the collector's peak memory is measured without it."""
        generators = build_generators(args.accounts, args.sources, args.total_minutes)
        rows = TrafficMinute.objects.values("account_uuid").annotate(total=Sum("total_bytes"))
        billed = {str(r["account_uuid"]): r["total"] for r in rows}
        return all(
            billed.get(a.uuid, 0) == g.billable_bytes(through=until, account_uuid=a.uuid)
            for g in generators
            for a in g.accounts
        )

    now = T0 + timedelta(minutes=WARMUP_MINUTES, seconds=30)
    started = time.perf_counter()
    result = traffic_collect_and_rate(now=now)
    elapsed = time.perf_counter() - started
    print(
        f"warm-up (first sight, {result['accounts_created']:,} accounts created): "
        f"{result['processed_samples']:,} samples in {elapsed:.1f} s"
    )
    rates = []
    print("| run | samples | minute facts | seconds | samples/min |")
    print("|---|---|---|---|---|")
    for number in range(1, args.runs + 1):
        now += timedelta(minutes=args.minutes)
        started = time.perf_counter()
        result = traffic_collect_and_rate(now=now)
        elapsed = time.perf_counter() - started
        assert result["status"] == "ok", result
        rate = result["processed_samples"] / elapsed * 60
        rates.append(rate)
        print(
            f"| {number} | {result['processed_samples']:,} | {result['written_minutes']:,} | {elapsed:.2f} "
            f"| {rate:,.0f} |"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"median: {statistics.median(rates):,.0f} samples/min (target >= 200,000)")
    print(f"collector peak RSS: {peak:,.0f} MiB")
    until = now.replace(second=0, microsecond=0) - timedelta(minutes=1)
    exact = check(until)
    print(f"billed bytes = true traffic for every account: {'yes' if exact else 'NO'}")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
