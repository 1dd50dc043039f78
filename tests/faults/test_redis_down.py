"""Redis down: ingestion and pages keep working; jobs skip, saying why, and never run unlocked."""

import logging
import socket
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from django.core.cache import cache

from billing.tests.factories import DEFAULT_PASSWORD
from core.jobs import TRAFFIC_COLLECT_AND_RATE, run_job
from core.metrics import REGISTRY
from core.models import JobRun
from tests.faults.conftest import closed_port_url, wait_until
from usage.models import MeterEvent
from usage.tests.factories import UsageEntryFactory

JOB = "billing.close_cycles"
# Well under the 5 s a caller would call a hang, on a loaded 2-core machine.
PROMPTLY = 3.0


def skipped_runs_counted() -> float:
    return REGISTRY.get_sample_value("tally_job_runs_total", {"job": JOB, "outcome": "skipped"}) or 0


class Work:
    """A job body that records whether it ran."""

    def __init__(self, during=None):
        self.calls = 0
        self.during = during

    def __call__(self) -> dict:
        self.calls += 1
        if self.during is not None:
            self.during()
        return {"done": self.calls}


@pytest.mark.django_db
def test_a_job_skips_with_a_logged_reason_when_redis_refuses_connections(settings, caplog):
    settings.REDIS_URL = closed_port_url()
    work = Work()
    counted_before = skipped_runs_counted()

    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="core"):
        run = run_job(JOB, work)
    took = time.monotonic() - started

    assert work.calls == 0  # never unlocked
    assert took < PROMPTLY
    run.refresh_from_db()
    assert run.outcome == JobRun.Outcome.SKIPPED
    assert run.result["lock_unavailable"] is True
    assert run.result["reason"].startswith("the job lock store is unreachable: Redis did not answer")
    assert run.finished_at is not None
    assert skipped_runs_counted() == counted_before + 1
    logged = [r for r in caplog.records if r.levelno == logging.WARNING and "unreachable" in r.getMessage()]
    assert logged and logged[0].getMessage().startswith(f"Job lock {JOB} not taken")


@pytest.mark.django_db
def test_a_silent_redis_fails_jobs_and_cache_reads_within_the_socket_timeout(settings):
    """A Redis that accepts connections and never answers (a hung server, a black hole)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # the kernel completes handshakes; nobody ever reads
    url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    timeout = 0.5
    settings.TALLY_REDIS_SOCKET_TIMEOUT = timeout
    settings.REDIS_URL = url
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": url}}
    settings.CACHES["default"]["OPTIONS"] = {
        **settings.CACHES["default"]["OPTIONS"],
        "socket_timeout": timeout,
    }
    try:
        started = time.monotonic()
        run = run_job(JOB, Work())
        lock_took = time.monotonic() - started
        started = time.monotonic()
        with pytest.raises(Exception, match="Timeout"):
            cache.get("anything")
        cache_took = time.monotonic() - started
    finally:
        silent.close()

    assert run.outcome == JobRun.Outcome.SKIPPED and run.result["lock_unavailable"] is True
    assert "Timeout" in run.result["reason"]
    assert timeout <= lock_took < timeout + 1.5
    assert timeout <= cache_took < timeout + 1.5


@pytest.mark.django_db
def test_jobs_skip_while_redis_is_dead_and_run_again_once_it_is_back(
    settings, app_on_throwaway_redis, caplog
):
    redis_server = app_on_throwaway_redis
    assert run_job(JOB, Work()).outcome == JobRun.Outcome.OK

    redis_server.kill()
    work = Work()
    skipped = run_job(JOB, work)
    assert (skipped.outcome, work.calls) == (JobRun.Outcome.SKIPPED, 0)

    redis_server.start()  # an empty Redis (no persistence): the clients reconnect by themselves
    assert run_job(JOB, Work()).outcome == JobRun.Outcome.OK


@pytest.mark.django_db
def test_a_job_that_loses_redis_while_running_finishes_and_says_so(settings, app_on_throwaway_redis, caplog):
    redis_server = app_on_throwaway_redis
    settings.TALLY_JOB_LOCK_TTL_SECONDS = 0.6  # the keep-alive tries every 0.2 s

    def redis_dies_then_keep_alive_fails():
        redis_server.kill()
        wait_until(
            lambda: any("could not be extended" in r.getMessage() for r in caplog.records),
            timeout=10,
            what="the keep-alive to notice that Redis is gone",
        )

    work = Work(during=redis_dies_then_keep_alive_fails)
    with caplog.at_level(logging.INFO, logger="core"):
        run = run_job(JOB, work)

    assert (run.outcome, work.calls) == (JobRun.Outcome.OK, 1)
    assert any(f"Job lock {JOB} not released" in r.getMessage() for r in caplog.records)


def sign_in(base_url: str, username: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base_url}/accounts/login/", timeout=10).raise_for_status()
    response = session.post(
        f"{base_url}/accounts/login/",
        data={
            "username": username,
            "password": DEFAULT_PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:500]
    return session


def test_ingestion_pages_and_the_balance_api_work_while_redis_is_down(
    live_server, app_on_throwaway_redis, reference_data, team, member, team_key, settings
):
    base = live_server.url
    who = team.attribution_id
    usage_420 = Decimal("420")
    UsageEntryFactory(attribution_id=who, credits=usage_420)
    internal = {"Authorization": f"Bearer {settings.INTERNAL_SERVICE_TOKEN}"}
    team_auth = {"Authorization": f"Bearer {team_key.raw_key}"}
    app_on_throwaway_redis.kill()

    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    events = [
        {"unique_key": f"redis-down-{n}", "attribution_id": who, "occurred_at": at, "amounts": {"samples": 7}}
        for n in range(3)
    ]
    started = time.monotonic()
    balance = requests.get(f"{base}/api/v1/balance/{who}", headers=team_auth, timeout=10)
    member_session = sign_in(base, member.username)
    page = member_session.get(f"{base}/teams/{team.slug}/billing/", timeout=10)
    by_internal = requests.post(f"{base}/api/v1/events", json=events[:2], headers=internal, timeout=10)
    by_team_key = requests.post(f"{base}/api/v1/events", json=events[2:], headers=team_auth, timeout=10)
    job_now = requests.post(f"{base}/api/v1/jobs/reset-usage", headers=internal, timeout=10)
    traffic_job_now = requests.post(f"{base}/v1/jobs/collect-and-rate", headers=internal, timeout=10)
    took = time.monotonic() - started

    assert (by_internal.status_code, by_internal.json()["accepted"]) == (200, 2)
    assert (by_team_key.status_code, by_team_key.json()["accepted"]) == (200, 1)
    assert MeterEvent.objects.filter(attribution_id=who).count() == 3
    assert balance.status_code == 200
    assert balance.json() == {"attribution_id": who, "credits": "420.000000"}
    assert page.status_code == 200
    assert 'id="billable"><span class="exact" title="420.000000">420.00</span>' in page.text  # no grant
    # Running a job by hand needs its lock: refused in the error shape, recorded as skipped.
    assert job_now.status_code == 503
    assert job_now.json()["error"] == "lock_unavailable"
    assert job_now.json()["message"].startswith("billing.close_cycles did not run: the job lock store")
    assert JobRun.objects.filter(job=JOB, outcome=JobRun.Outcome.SKIPPED).count() == 1
    assert traffic_job_now.status_code == 503
    assert traffic_job_now.json()["error"] == "lock_unavailable"
    assert JobRun.objects.get(job=TRAFFIC_COLLECT_AND_RATE).outcome == JobRun.Outcome.SKIPPED
    assert took < 15  # nothing waited on Redis
