"""Cycle close for many cost centers: the `billing.close_cycles` job's `cycles_close`.

Builds (in its own database, `tally_bench_cycles`, created and migrated when missing) N cost
centers whose cycle started a month ago and is due now: each has a credits ledger with one
grant of 40 credits and three usage entries worth 12.5 credits each; one in five bills through
Stripe, the rest through `other` (capped invoice entry). Then runs the job once, timed, and
checks what it wrote: every cost center moved to its next cycle, one grant-coverage entry of
37.5 credits and one reset each, nothing due left.

    .venv/bin/python bench/cycle_close.py --cost-centers 10000
"""

import argparse
import os
import platform
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tally_bench_cycles")


def build(count: int, start, now) -> list[str]:
    from decimal import Decimal

    from credits.models import Grant, Ledger
    from usage.models import CostCenter, UsageEntry

    ids = [f"user:{uuid.uuid4()}" for _ in range(count)]
    CostCenter.objects.bulk_create(
        [
            CostCenter(
                attribution_id=a,
                spending_limit=Decimal("500"),
                billing_strategy="stripe" if n % 5 == 0 else "other",
                billing_cycle_start=start,
                next_billing_time=now,
            )
            for n, a in enumerate(ids)
        ],
        batch_size=2000,
    )
    ledgers = Ledger.objects.bulk_create([Ledger(attribution_id=a) for a in ids], batch_size=2000)
    Grant.objects.bulk_create(
        [Grant(ledger=ledger, amount=Decimal("40"), priority=1, effective_at=start) for ledger in ledgers],
        batch_size=2000,
    )
    UsageEntry.objects.bulk_create(
        [
            UsageEntry(
                attribution_id=a,
                kind="meter",
                credits=Decimal("12.5"),
                effective_time=start + (now - start) * (k + 1) / 4,
                description="bench usage",
                object_id=f"{a}:u{k}",
            )
            for a in ids
            for k in range(3)
        ],
        batch_size=5000,
    )
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cost-centers", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=None, help="default: TALLY_CYCLE_CLOSE_WORKERS")
    args = parser.parse_args()
    from devtools.pgadmin import ensure_database

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from datetime import timedelta
    from decimal import Decimal

    from django.conf import settings
    from django.core.management import call_command
    from django.db.models import Sum
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from billing.services.cycles import cycles_close
    from credits.models import Reset
    from usage.models import CostCenter, UsageEntry

    # Cost centers of earlier runs have moved on; only this run's are due at `now`.
    now = timezone.now().replace(microsecond=0)
    start = now - timedelta(days=31)
    t0 = time.perf_counter()
    ids = build(args.cost_centers, start, now)
    print(
        f"built {len(ids):,} due cost centers with ledgers, grants and usage"
        f" in {time.perf_counter() - t0:.1f} s"
    )

    t0 = time.perf_counter()
    result = cycles_close(now=now + timedelta(seconds=1), workers=args.workers)
    elapsed = time.perf_counter() - t0

    ours = CostCenter.objects.filter(attribution_id__in=ids)
    still_due = ours.filter(next_billing_time__lte=now).count()
    coverage = UsageEntry.objects.filter(attribution_id__in=ids, kind="grantcoverage")
    resets = Reset.objects.filter(ledger__attribution_id__in=ids).count()
    covered = coverage.aggregate(total=Sum("credits"))["total"] or Decimal(0)
    workers = args.workers if args.workers is not None else settings.TALLY_CYCLE_CLOSE_WORKERS
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}; {workers} worker threads")
    print(
        f"closed {result['cost_centers_closed']:,} cost centers in {elapsed:.1f} s "
        f"({result['cost_centers_closed'] / elapsed:,.0f}/s); status {result['status']}, "
        f"{len(result['failed'])} failed"
    )
    print(
        f"check: still due {still_due}, coverage entries {coverage.count():,}, resets {resets:,}, "
        f"credits covered {-covered} (expected {Decimal('37.5') * len(ids)})"
    )
    ok = (
        still_due == 0
        and coverage.count() == len(ids)
        and resets == len(ids)
        and -covered == Decimal("37.5") * len(ids)
    )
    print("result: " + ("ok" if ok else "MISMATCH"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
