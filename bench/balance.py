"""Balance latency of a credits ledger with 100 grants as its usage history grows.

    DJANGO_SETTINGS_MODULE=config.settings.test .venv/bin/python bench/balance.py \
        --events 10000,100000,1000000

Needs DATABASE_URL pointing at a PostgreSQL server (default postgres://postgres@127.0.0.1:5432/tally);
it works in its own database on that server (`tally_bench`, created and migrated if missing,
its credits and usage tables emptied at the start).

For each N: one ledger with 100 grants (priorities 0-9, a third expiring, spread over the
history) and N rated usage entries, one a minute up to now (so a longer history is more events,
at the rate a steady customer produces them); a snapshot saved the way the `credits.snapshot`
job does (the last whole hour before now minus the grace); the usage table vacuumed and
analysed as autovacuum would leave it; 50 warm-up queries, then 1,000 balance queries at now
through the selector (not HTTP). Prints p50, p99 and max per N, and the machine. A few queries
without the snapshot show what the snapshot saves.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GRANTS = 100
QUERIES = 1000
WARM_UP = 50
UNSNAPSHOTTED_QUERIES = 20


def bench_database_url(name: str) -> str:
    """The server of DATABASE_URL, database `name` (created when missing)."""
    from devtools.pgadmin import ensure_database

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tally")
    url = urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
    ensure_database(url)
    return url


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.core.management import call_command

    print("migrating the bench database (the first time takes about a minute)...", flush=True)
    call_command("migrate", verbosity=0)


def empty_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE credits_grantusage, credits_balancesnapshot, credits_grant, credits_reset, "
            "credits_ledger, credits_feature, usage_usageentry CASCADE"
        )


def insert_usage(attribution_id: str, events: int, now) -> None:
    """N final workspace entries, one a minute back from now, amounts 0.010-0.016 credits."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO usage_usageentry
                (id, created_at, updated_at, attribution_id, description, credits, effective_time,
                 kind, object_id, draft, metadata)
            SELECT gen_random_uuid(), %(now)s, %(now)s, %(who)s, 'bench', 0.010 + (i %% 7) * 0.001,
                   %(now)s - i * interval '1 minute', 'workspace', NULL, false, '{}'::jsonb
            FROM generate_series(1, %(events)s) AS i
            """,
            {"now": now, "who": attribution_id, "events": events},
        )
        # Steady state, as autovacuum leaves a table: visibility map set, statistics fresh.
        cursor.execute("VACUUM ANALYZE usage_usageentry")


def create_grants(attribution_id: str, events: int, now) -> None:
    """100 grants through the service, spread evenly over the history, granting about twice the
    usage: roughly half of them are spent by now, the rest still pay."""
    from credits.services import grant_create

    history = timedelta(minutes=events)
    average = events * 13 // 1000 * 2 // GRANTS  # usage averages 0.013 credits an event
    for n in range(GRANTS):
        grant_create(
            attribution_id=attribution_id,
            amount=f"{max(1, average - 5 + n % 11)}.5",
            priority=n % 10,
            effective_at=now - history + history * n / GRANTS,
            expiration_count=90 if n % 3 == 0 else None,
            expiration_unit="DAY" if n % 3 == 0 else None,
            now=now,
        )


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run(events: int) -> dict:
    from django.db import connection
    from django.utils import timezone

    from credits.models import Ledger
    from credits.selectors import ledger_balance, ledger_compute
    from credits.services import balance_snapshot_save, periodic_snapshot_time
    from usage.tests.factories import new_attribution_id

    now = timezone.now().replace(second=0, microsecond=0)
    who = new_attribution_id()
    started = time.perf_counter()
    insert_usage(who, events, now)
    create_grants(who, events, now)
    ledger = Ledger.objects.get(attribution_id=who)
    loaded = time.perf_counter() - started

    started = time.perf_counter()
    snapshot = balance_snapshot_save(ledger_id=ledger.id, at=periodic_snapshot_time(now), now=now)
    snapshot_seconds = time.perf_counter() - started
    assert snapshot is not None

    first = ledger_balance(attribution_id=who, at=now)
    for _ in range(WARM_UP):
        ledger_balance(attribution_id=who, at=now)
    samples = []
    for _ in range(QUERIES):
        began = time.perf_counter()
        balance = ledger_balance(attribution_id=who, at=now)
        samples.append((time.perf_counter() - began) * 1000)
    assert balance.balance == first.balance

    unsnapshotted = []
    for _ in range(UNSNAPSHOTTED_QUERIES):
        began = time.perf_counter()
        ledger_compute(attribution_id=who, ledger=ledger, at=now, use_snapshot=False)
        unsnapshotted.append((time.perf_counter() - began) * 1000)
    connection.close()
    return {
        "events": events,
        "load_s": loaded,
        "snapshot_s": snapshot_seconds,
        "p50": statistics.median(samples),
        "p99": percentile(samples, 0.99),
        "max": max(samples),
        "usage_sums": first.usage_queries,
        "grants": len(first.grants),
        "balance": first.balance,
        "live": sum(1 for g in first.grants if g.balance > 0),
        "no_snapshot_p50": statistics.median(unsnapshotted),
    }


def machine() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.node()}: {os.cpu_count()} cores, {platform.platform()}, "
        f"Python {platform.python_version()}, PostgreSQL {server}; load average {load}"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", default="10000,100000,1000000", help="comma-separated history sizes")
    parser.add_argument("--database", default="tally_bench", help="database name on the DATABASE_URL server")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.events.split(",") if size.strip()]

    setup_django(bench_database_url(args.database))
    empty_tables()
    print(machine())
    print(
        f"{GRANTS} grants per ledger, {QUERIES} balance queries at now per size, snapshot as the job takes it"
    )
    print(
        f"{'events':>9} {'load s':>7} {'snap s':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'SUMs':>5} {'paying':>6} {'no-snapshot p50 ms':>19}"
    )
    results = []
    for events in sizes:
        result = run(events)
        results.append(result)
        print(
            f"{result['events']:>9} {result['load_s']:>7.1f} {result['snapshot_s']:>7.2f} "
            f"{result['p50']:>7.2f} {result['p99']:>7.2f} {result['max']:>7.2f} "
            f"{result['usage_sums']:>5} {result['live']:>6} {result['no_snapshot_p50']:>19.1f}",
            flush=True,
        )
    if len(results) > 1:
        first, last = results[0], results[-1]
        print("load average at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
        print(f"p99 at {last['events']} / p99 at {first['events']}: {last['p99'] / first['p99']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
