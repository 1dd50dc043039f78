"""Auto-recharge latency: from the ingest that crosses the threshold to the charge reaching Stripe.

Starts a production-like Tally on its own database (`tally_bench_recharge`, created and migrated
when missing): gunicorn, a Celery worker and Celery beat with the schedules the migrations
create (`usage.rate` and `billing.recharge_check` every minute), Redis as broker and lock store;
and, for Stripe, localstripe behind the loopback Stripe double of the tests (tests/stripe_fake.py),
which records when each request arrives.

Each run is a team with a saved card, 500 prepaid credits and auto-recharge "below 100, back to
1000". The runs' ingests are spread evenly over a minute (so they meet the beat schedule at
every phase, as real usage does); each posts one batch of meter events worth 450 credits to
`POST /api/v1/events` over HTTP, and the time is taken from just before that request to the
moment the PaymentIntent request for that team reaches the Stripe double. Also printed: which
trigger charged it (the rating hook, `usage.rate`, or the minute sweep, `schedule`).

    REDIS_URL=redis://127.0.0.1:6379/3 .venv/bin/python bench/recharge_latency.py --runs 6

Needs PostgreSQL (DATABASE_URL's server; default postgres://postgres@127.0.0.1:5432) and Redis.
"""

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TOKEN = "bench-token"
CREDITS_USED = 450  # of 500 prepaid: 50 left, below the threshold of 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60, headers: dict | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=2).read()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer") from None
            time.sleep(0.2)


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--database", default="tally_bench_recharge")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tally")
    database_url = urlunsplit(urlsplit(base)._replace(path=f"/{args.database}"))
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    from devtools.pgadmin import ensure_database

    ensure_database(database_url)

    processes: list[subprocess.Popen] = []
    logs = tempfile.TemporaryDirectory(prefix="tally-bench-recharge-")

    def spawn(name: str, command: list[str], env: dict) -> subprocess.Popen:
        log = open(Path(logs.name) / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process group
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
        processes.append(process)
        return process

    try:
        # Stripe: localstripe, and the tests' loopback double in front of it (in this process).
        localstripe_port = free_port()
        binary = shutil.which("localstripe") or str(Path(sys.executable).with_name("localstripe"))
        spawn("localstripe", [binary, "--port", str(localstripe_port), "--from-scratch"], dict(os.environ))
        wait_http(
            f"http://127.0.0.1:{localstripe_port}/v1/customers", headers={"Authorization": "Bearer sk_x"}
        )
        from tests.stripe_fake import StripeFake

        arrivals: dict[str, float] = {}  # attribution id -> when its PaymentIntent request arrived

        class TimedStripeFake(StripeFake):
            def forward(self, method, path, body, headers):
                if method == "POST" and path.startswith("/v1/payment_intents") and "recharge" in body:
                    from tests.stripe_fake import parse_form

                    team = parse_form(body).get("metadata", {}).get("attributionId")
                    arrivals.setdefault(team, time.monotonic())
                return super().forward(method, path, body, headers)

        fake = TimedStripeFake(f"http://127.0.0.1:{localstripe_port}")
        fake.add_price(currency="eur", unit_amount=36, price_id="price_credits_eur")

        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DJANGO_DEBUG": "false",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "INTERNAL_SERVICE_TOKEN": TOKEN,
            "STRIPE_API_BASE": fake.url,
            "STRIPE_PRICE_IDS": "eur=price_credits_eur",
            "TALLY_LOCK_PREFIX": f"tally-bench-recharge:{uuid.uuid4().hex[:8]}:",
            "LOG_LEVEL": "WARNING",
            "TALLY_CELERY_LOG_LEVEL": "WARNING",
        }
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        print("migrating the bench database (the first time takes about a minute)...", flush=True)
        call_command("migrate", verbosity=0)
        from django.conf import settings
        from django_celery_beat.models import PeriodicTask

        schedules = {
            t.name: f"every {t.interval.every} {t.interval.period}"
            for t in PeriodicTask.objects.filter(name__in=["usage.rate", "billing.recharge_check"])
        }

        port = free_port()
        spawn(
            "web",
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--log-level", "warning"],
            env,
        )  # fmt: skip
        spawn("worker", [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "WARNING",
                         "--concurrency", "2"], env)  # fmt: skip
        spawn("beat", [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "WARNING",
                       "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
                       "--schedule", str(Path(logs.name) / "beat-schedule")], env)  # fmt: skip
        wait_http(f"http://127.0.0.1:{port}/api/ping")

        stripe_account(settings)
        teams = [set_up_team(settings, n) for n in range(args.runs)]
        units = units_for(CREDITS_USED)
        print(f"{args.runs} teams ready; schedules: {schedules}", flush=True)

        started: dict[str, float] = {}
        spacing = 60 / args.runs
        first = time.monotonic() + 2
        for n, attribution_id in enumerate(teams):
            time.sleep(max(0.0, first + n * spacing - time.monotonic()))
            started[attribution_id] = ingest(port, attribution_id, units)

        deadline = time.monotonic() + 180
        while len(arrivals.keys() & started.keys()) < len(teams) and time.monotonic() < deadline:
            time.sleep(0.05)
        report(teams, started, arrivals, schedules)
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def stripe_account(settings) -> None:
    """The dj-stripe Account and APIKey rows it needs before syncing objects (as the tests' fixture)."""
    from djstripe.models import Account
    from djstripe.models import APIKey as StripeAPIKey

    data = json.loads((ROOT / "tests" / "stripe_fixtures" / "account.json").read_text())
    account, _ = Account.objects.get_or_create(
        id=data["id"], defaults={"livemode": False, "stripe_data": data}
    )
    if not StripeAPIKey.objects.filter(secret=settings.STRIPE_TEST_SECRET_KEY).exists():
        StripeAPIKey.objects.create(
            secret=settings.STRIPE_TEST_SECRET_KEY,
            type="secret",
            livemode=False,
            djstripe_owner_account=account,
        )


def set_up_team(settings, n: int) -> str:
    """A team with a Stripe customer and a saved card, 500 prepaid credits, auto-recharge on."""
    import stripe
    from django.utils import timezone

    from billing.services.recharges import auto_recharge_set
    from billing.services.stripe_ops import customer_create
    from billing.services.teams import team_create
    from credits.services.grants import grant_create

    team = team_create(name=f"Bench recharge {n} {uuid.uuid4().hex[:6]}")
    customer = customer_create(
        attribution_id=team.attribution_id, currency="eur", email="b@bench.test", name=team.name
    )
    key = {"api_key": settings.STRIPE_TEST_SECRET_KEY}
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    method = stripe.PaymentMethod.create(type="card", card=card, **key)
    stripe.PaymentMethod.attach(method["id"], customer=customer.id, **key)
    stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": method["id"]}, **key)
    grant_create(
        attribution_id=team.attribution_id,
        amount="500",
        priority=5,
        effective_at=timezone.now(),
        metadata={"kind": "prepaid"},
    )
    auto_recharge_set(attribution_id=team.attribution_id, threshold="100", target="1000")
    return team.attribution_id


def units_for(credits: int) -> int:
    from decimal import ROUND_CEILING, Decimal

    from django.utils import timezone

    from usage.models import MeterRate

    rate = MeterRate.objects.filter(
        meter__slug="container-seconds", effective_from__lte=timezone.now()
    ).first()
    return int((Decimal(credits) / rate.credits_per_unit).to_integral_value(rounding=ROUND_CEILING))


def ingest(port: int, attribution_id: str, units: int) -> float:
    from datetime import UTC, datetime

    body = json.dumps(
        [
            {
                "unique_key": f"bench-{uuid.uuid4()}",
                "attribution_id": attribution_id,
                "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "amounts": {"container-seconds": units},
            }
        ]
    ).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/events",
        data=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    started = time.monotonic()
    answer = json.loads(urllib.request.urlopen(request, timeout=30).read())
    assert answer["accepted"] == 1, answer
    return started


def report(teams, started, arrivals, schedules) -> None:
    from django.db.models import Q

    from billing.models import Recharge
    from core.models import JobRun

    rows = []
    for attribution_id in teams:
        latency = arrivals.get(attribution_id, float("nan")) - started[attribution_id]
        recharge = Recharge.objects.filter(attribution_id=attribution_id).first()
        trigger = "?"
        if recharge is not None:
            run = (
                JobRun.objects.filter(job="billing.recharge_check", started_at__lte=recharge.created_at)
                .filter(Q(finished_at__gte=recharge.created_at) | Q(finished_at__isnull=True))
                .order_by("-started_at")
                .first()
            )
            trigger = run.triggered_by if run else "?"
        rows.append((latency, trigger, recharge))
        credits = recharge.credits if recharge else "-"
        print(f"  {attribution_id}: {latency:6.2f} s (trigger: {trigger}, recharge of {credits} credits)")
    measured = [r[0] for r in rows if r[0] == r[0]]
    print(f"machine: {machine()}; schedules: {schedules}")
    if len(measured) < len(rows):
        print(f"{len(rows) - len(measured)} run(s) saw no charge within 180 s")
    if measured:
        print(
            f"ingest -> PaymentIntent at the Stripe double: median {statistics.median(measured):.2f} s,"
            f" min {min(measured):.2f} s, max {max(measured):.2f} s over {len(measured)} runs"
        )
        by_trigger = {}
        for latency, trigger, _ in rows:
            by_trigger.setdefault(trigger, []).append(latency)
        print("by trigger: " + ", ".join(f"{t}: {len(v)}" for t, v in sorted(by_trigger.items())))


if __name__ == "__main__":
    main()
