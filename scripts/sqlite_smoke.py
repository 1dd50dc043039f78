"""SQLite smoke: the demo's embedded default (SQLite, database job locks, no Redis) end to end.

The test suite runs on PostgreSQL only, so the `connection.vendor == "sqlite"` branches are
exercised here. In a throwaway directory this script:
1. migrates a fresh SQLite database and loads the demo data (`demo_seed`);
2. runs every periodic job once the way the worker does (the Celery task in-process, which goes
   through core.jobs.run_job under its lock), with a fake traffic exporter on loopback;
3. ingests meter events through the real API with the demo's Acme key, sends them again
   (duplicates), rates them with the `usage.rate` job;
4. reads the balance through the API and the team billing page as alice, and checks both
   against the balance before plus what it ingested (units x the meter's rate).

Prints each check, exits non-zero on any failure, and ends with `sqlite: N passed, M failed`.
Usage: python scripts/sqlite_smoke.py   (or `make sqlite-smoke`)
"""

import io
import os
import shutil
import socket
import sys
import tempfile
import traceback
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

# The periodic jobs are core.jobs.JOB_NAMES (each job's one name: its Celery task, lock and beat
# schedule); the script checks the beat schedule names exactly these.
RATE_JOB = "usage.rate"  # the one that rates the events ingested below
METER = "container-seconds"
HOST = "127.0.0.1"  # in the demo's ALLOWED_HOSTS
AMOUNTS = [600, 1200, 1800]  # one event each, a few minutes ago

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

passed = 0
failed = 0


def say(message: str) -> None:
    print(f"[sqlite] {message}", flush=True)


def check(what: str, ok: bool, detail: str = "") -> bool:
    global passed, failed
    if ok:
        passed += 1
        say(f"ok   {what}")
    else:
        failed += 1
        say(f"FAIL {what}{': ' + str(detail) if detail else ''}")
    return ok


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def configure(tmp: Path, exporter_url: str) -> None:
    """The demo's settings on a throwaway SQLite file; no service from the environment leaks in."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'tally.sqlite3'}"
    for name in ("REDIS_URL", "CELERY_BROKER_URL", "TALLY_LOCK_BACKEND", "EXPORTER_SOURCES_JSON"):
        os.environ.pop(name, None)
    os.environ["INTERNAL_SERVICE_TOKEN"] = "demo-internal-token"
    os.environ["EXPORTER_BASE_URL"] = exporter_url
    os.environ.setdefault("LOG_LEVEL", "WARNING")


def start_exporter(port: int, token: str):
    """The demo's fake traffic exporter (devtools.exporter), in-process, with 30 minutes of history.

    Returns the server and its generator: `catch_up_exporter` brings the history up to the
    minute before the jobs run (migrating can take minutes on a busy machine, and a first
    collect-and-rate only looks back two minutes)."""
    from devtools.exporter import ExporterServer, FakeExporter, TrafficGenerator, make_accounts

    generator = TrafficGenerator(node_id="smoke-node", env="prod", accounts=make_accounts(5, seed=1), seed=1)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    generator.advance(start=now - timedelta(minutes=30), until=now, interval=timedelta(minutes=1))
    server = ExporterServer(FakeExporter(generator, token=token), host="127.0.0.1", port=port)
    return server.start(), generator


def catch_up_exporter(generator) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    generator.advance(until=now, interval=timedelta(minutes=1))


def run_jobs(names: list[str]) -> None:
    from config.celery import app
    from core.models import JobRun

    app.loader.import_default_modules()  # the worker's start-up: autodiscover the tasks modules
    for name in names:
        task = app.tasks.get(name)
        if not check(f"job {name} is a registered task", task is not None):
            continue
        last = JobRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        try:
            result = task.apply().get(disable_sync_subtasks=False)
        except Exception as exc:  # the job raised: recorded as an error run
            check(f"job {name} runs", False, f"{type(exc).__name__}: {exc}")
            continue
        runs = list(JobRun.objects.filter(pk__gt=last).values_list("job", "outcome"))
        check(
            f"job {name} runs and is recorded ok ({result.get('status')})",
            runs == [(name, JobRun.Outcome.OK)],
            f"runs {runs}, result {result}",
        )


def smoke(tmp: Path, generator) -> None:
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    from django.db import connection

    check("the database is SQLite", connection.vendor == "sqlite", connection.vendor)
    check(
        "job locks live in the database",
        settings.TALLY_LOCK_BACKEND == "database",
        settings.TALLY_LOCK_BACKEND,
    )

    say("migrating a fresh SQLite database (dj-stripe brings many migrations: about a minute)")
    call_command("migrate", "--noinput", verbosity=0)
    settings.VAR_DIR = tmp  # demo_seed writes its credentials file there, not into the repository's var/
    say("loading the demo data")
    call_command("demo_seed", stdout=io.StringIO())

    import json

    from django.test import Client
    from django_celery_beat.models import PeriodicTask

    from billing.models import Team
    from core.jobs import JOB_NAMES
    from usage.models import MeterRate, UsageEntry

    scheduled = sorted(PeriodicTask.objects.filter(enabled=True).values_list("task", flat=True))
    check(
        "the beat schedule names exactly the jobs of core.jobs.JOB_NAMES",
        scheduled == sorted(JOB_NAMES),
        f"scheduled {scheduled}",
    )

    # The demo leaves one Acme workspace running, whose draft grows every minute: stop it through
    # the API (the internal token reports lifecycle), so the balance moves only by what is ingested.
    from core.timeutils import format_rfc3339
    from usage.models import WorkspaceInstance

    running = WorkspaceInstance.objects.get(instance_id="demo-acme-running")
    stopped = format_rfc3339(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1))
    internal = Client(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Bearer {settings.INTERNAL_SERVICE_TOKEN}")
    report = internal.put(
        f"/api/v1/workspace-instances/{running.instance_id}",
        json.dumps(
            {
                "attribution_id": running.attribution_id,
                "workspace_class": running.workspace_class,
                "started_at": format_rfc3339(running.started_at),
                "stopping_time": stopped,
                "stopped_time": stopped,
            }
        ),
        content_type="application/json",
    )
    check(
        "PUT /api/v1/workspace-instances/demo-acme-running (stopped) answers 200",
        report.status_code == 200,
        report.content[:300],
    )

    catch_up_exporter(generator)
    run_jobs(JOB_NAMES)
    check(
        "collect-and-rate billed the fake exporter's traffic",
        UsageEntry.objects.filter(kind="traffic").exists(),
        "no traffic usage entry",
    )

    acme = Team.objects.get(slug="acme")
    who = acme.attribution_id
    key = json.loads((tmp / "demo-credentials.json").read_text())["team_api_key"]
    check(
        "the stopped workspace has its final entry",
        UsageEntry.objects.filter(object_id="demo-acme-running", draft=False).exists(),
    )
    api = Client(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Bearer {key}")

    def balance() -> Decimal | None:
        response = api.get(f"/api/v1/balance/{who}")
        if not check(
            f"GET /api/v1/balance/{who} answers 200", response.status_code == 200, response.content[:300]
        ):
            return None
        return Decimal(response.json()["credits"])

    before = balance()
    at = (datetime.now(UTC) - timedelta(minutes=3)).isoformat().replace("+00:00", "Z")
    run_id = uuid.uuid4().hex[:8]
    events = [
        {
            "unique_key": f"smoke-{run_id}-{n}",
            "attribution_id": who,
            "occurred_at": at,
            "amounts": {METER: amount},
        }
        for n, amount in enumerate(AMOUNTS)
    ]
    first = api.post("/api/v1/events", json.dumps(events), content_type="application/json")
    check("POST /api/v1/events answers 200", first.status_code == 200, first.content[:300])
    statuses = [r["status"] for r in first.json().get("results", [])] if first.status_code == 200 else []
    check(f"{len(events)} events accepted", statuses == ["accepted"] * len(events), str(statuses))
    again = api.post("/api/v1/events", json.dumps(events), content_type="application/json")
    statuses = [r["status"] for r in again.json().get("results", [])] if again.status_code == 200 else []
    check("the same events again are duplicates", statuses == ["duplicate"] * len(events), str(statuses))

    run_jobs([RATE_JOB])
    rate = MeterRate.objects.filter(meter__slug=METER).order_by("-effective_from").first().credits_per_unit
    expected = None if before is None else (before + rate * sum(AMOUNTS)).quantize(Decimal("0.000001"))
    after = balance()
    check(
        f"the balance grew by {sum(AMOUNTS)} {METER} x {rate} (once, duplicates not counted)",
        after is not None and after == expected,
        f"before {before}, after {after}, expected {expected}",
    )

    page_client = Client(HTTP_HOST=HOST)
    check("alice signs in", page_client.login(username="alice", password="tally-demo"))
    page = page_client.get(f"/teams/{acme.slug}/billing/")
    check("GET /teams/acme/billing/ as alice answers 200", page.status_code == 200, str(page.status_code))
    html = page.content.decode()
    billable = api.get(f"/api/v1/billing/{who}/billable")
    if check(
        f"GET /api/v1/billing/{who}/billable answers 200",
        billable.status_code == 200,
        str(billable.status_code),
    ):
        exact = billable.json()["billable_credits"]
        # The page shows 2 places; the exact 6-place value is its title, one hover away.
        check(
            f"the billing page shows the API's billable credits {exact}",
            f'<span id="billable"><span class="exact" title="{exact}">' in html,
            "figure not found on the page",
        )


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="tally-sqlite-smoke-"))
    port = free_port()
    configure(tmp, f"http://127.0.0.1:{port}")
    say(f"SQLite database in {tmp}")
    exporter = None
    try:
        exporter, generator = start_exporter(port, os.environ["INTERNAL_SERVICE_TOKEN"])
        smoke(tmp, generator)
    except Exception:
        traceback.print_exc()
        check("the smoke ran to its end", False, "an exception stopped it (above)")
    finally:
        if exporter is not None:
            exporter.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"sqlite: {passed} passed, {failed} failed", flush=True)
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
