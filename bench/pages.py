"""Page server times with a year of usage: the team billing page, its CSV and the finance admin.

Builds (in its own database, `tally_bench_pages`, created and migrated when missing) a team
with a year of hourly meter entries, daily workspace entries, grants, and a cost center; then
times each page through Django's test client (server time: the whole request in-process,
no network) and prints p50 / max of 20 requests.

    .venv/bin/python bench/pages.py   # DATABASE_URL defaults to …/tally_bench_pages
"""

import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tally_bench_pages")


def main() -> None:
    from devtools.pgadmin import ensure_database

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from datetime import timedelta
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from billing.models import Membership, Team
    from credits.services.grants import grant_create
    from usage.models import UsageEntry
    from usage.services import cost_center_get_or_create

    users = get_user_model()
    slug = f"bench-{int(time.time())}"
    team = Team.objects.create(name="Bench", slug=slug)
    member = users.objects.create_user(username=slug, password="bench-password")
    Membership.objects.create(team=team, user=member, role="OWNER")
    staff = users.objects.filter(username="bench-staff").first() or users.objects.create_superuser(
        "bench-staff", "s@example.com", "bench-password"
    )
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    year_ago = now - timedelta(days=365)
    cost_center_get_or_create(attribution_id=team.attribution_id, now=year_ago)
    started = time.perf_counter()
    rows = []
    for hour in range(365 * 24):
        at = year_ago + timedelta(hours=hour)
        rows.append(
            UsageEntry(
                attribution_id=team.attribution_id,
                kind="meter",
                credits=Decimal("0.125"),
                effective_time=at,
                description="meter",
                object_id=f"{slug}:m:{hour}",
            )
        )
        if hour % 24 == 9:
            rows.append(
                UsageEntry(
                    attribution_id=team.attribution_id,
                    kind="workspace",
                    credits=Decimal("3.5"),
                    effective_time=at,
                    description="workspace",
                    object_id=f"{slug}:w:{hour}",
                )
            )
    UsageEntry.objects.bulk_create(rows, batch_size=5000)
    for month in range(12):
        grant_create(
            attribution_id=team.attribution_id,
            amount="50",
            effective_at=year_ago + timedelta(days=30 * month),
            now=year_ago + timedelta(days=30 * month),
        )
    from billing.services.cycles import cycle_close
    from credits.services.snapshots import balance_snapshots_save_due

    # What the jobs do: close the year's cycles (the cycle moves to this month), then the
    # hourly snapshot.
    cycle_close(attribution_id=team.attribution_id, now=timezone.now())
    balance_snapshots_save_due(now=timezone.now())
    print(
        f"built {len(rows):,} usage entries over a year and 12 grants"
        f" in {time.perf_counter() - started:.1f} s"
    )

    member_client, staff_client = Client(), Client()
    member_client.force_login(member)
    staff_client.force_login(staff)
    pages = [
        ("team billing page", member_client, f"/teams/{slug}/billing/"),
        ("team billing page 10", member_client, f"/teams/{slug}/billing/?page=10"),
        ("usage CSV (cycle)", member_client, f"/teams/{slug}/billing/usage.csv"),
        ("finance dashboard", staff_client, "/admin/dashboard/"),
        ("admin usage entries", staff_client, f"/admin/usage/usageentry/?q={team.attribution_id}"),
        ("admin cost centers", staff_client, "/admin/usage/costcenter/"),
        ("admin grants", staff_client, "/admin/credits/grant/"),
    ]
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'page':<24} {'p50 ms':>8} {'max ms':>8}")
    for name, client, url in pages:
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            response = client.get(url, HTTP_HOST="127.0.0.1")
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        print(f"{name:<24} {statistics.median(times):>8.1f} {max(times):>8.1f}")


if __name__ == "__main__":
    main()
