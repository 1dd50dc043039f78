"""A collect-and-rate process killed mid-run (SIGKILL, between two pages of a window) loses
nothing and doubles nothing: the next run, once the dead run's job lock has expired, picks up
from the committed pages and bills exactly the true traffic."""

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count, Sum

from core.models import JobRun
from devtools.exporter import make_accounts
from traffic.models import TrafficCounterState, TrafficMinute, TrafficSourceState
from traffic.selectors import JOB_NAME
from traffic.services import traffic_job_run
from traffic.tests.factories import ExporterNode

ROOT = Path(__file__).resolve().parents[2]
RUN = "import django; django.setup(); from traffic.services import traffic_job_run; traffic_job_run()"


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.real_clock(reason="its worker is a subprocess on the real clock, not the test's shifted one")
@pytest.mark.django_db(transaction=True)
def test_a_run_killed_between_pages_is_finished_by_the_next_run(redis):
    now = datetime.now(UTC)
    accounts = make_accounts(3, seed=21)
    node = ExporterNode(node_id="node-a", accounts=accounts, token=settings.INTERNAL_SERVICE_TOKEN, seed=21)
    try:
        node.generator.advance(start=now - timedelta(minutes=16), until=now, interval=timedelta(seconds=5))
        checkpoint = now - timedelta(minutes=12)  # this window holds two pages of snapshots
        TrafficSourceState.objects.create(source_id="node-a", last_completed_until=checkpoint)
        node.exporter.inject("none")
        node.exporter.inject("hang")

        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": _database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "TALLY_LOCK_PREFIX": settings.TALLY_LOCK_PREFIX,
            "TALLY_JOB_LOCK_TTL_SECONDS": "2",
        }
        worker = subprocess.Popen([sys.executable, "-c", RUN], cwd=ROOT, env=env)
        try:
            assert node.exporter.hanging.wait(timeout=90), "the worker never asked for page 2"
            worker.kill()
        finally:
            worker.wait(timeout=30)

        # Page 1 is committed; the window is not: the checkpoint did not move.
        assert TrafficCounterState.objects.filter(node_id="prod:node-a").count() == len(accounts)
        assert TrafficSourceState.objects.get().last_completed_until == checkpoint
        assert JobRun.objects.get(job=JOB_NAME).outcome == "running"  # it never finished
        node.exporter.release()

        deadline = time.monotonic() + 10
        while redis.exists(settings.TALLY_LOCK_PREFIX + JOB_NAME) and time.monotonic() < deadline:
            time.sleep(0.2)
        run = traffic_job_run(triggered_by="test")

        assert run.outcome == "ok", run.result
        assert run.result["replayed_minutes"] > 0  # page 1 again: already applied, charged once
        completed = datetime.fromisoformat(run.result["source_statuses"][0]["last_completed_until"])
        rows = TrafficMinute.objects.values("account_uuid").annotate(total=Sum("total_bytes"))
        billed = {str(r["account_uuid"]): r["total"] for r in rows}
        for account in accounts:
            assert billed[account.uuid] == node.generator.billable_bytes(
                through=completed, account_uuid=account.uuid
            )
        assert not (
            TrafficMinute.objects.values("minute", "node_id", "account_uuid")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
        ).exists()
    finally:
        node.stop()
