"""Each alert-worthy metric moves when its thing happens, read from /metrics as Prometheus does."""

import socket
from datetime import timedelta

import orjson
import pytest
from django.utils import timezone

from core.jobs import run_job
from core.locks import JobLock, RedisLockBackend
from core.models import JobRun
from core.tests.prometheus import sample, scrape
from usage.tests.factories import new_attribution_id

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ingested_events_are_counted_by_result(client, internal_client):
    who = new_attribution_id()
    moment = (timezone.now() - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    good = {"unique_key": "m-1", "attribution_id": who, "occurred_at": moment, "amounts": {"samples": 5}}
    bad = {**good, "unique_key": "m-2", "amounts": {"bananas": 1}}
    before = scrape(client)

    internal_client.post("/api/v1/events", orjson.dumps([good, bad]), content_type="application/json")
    internal_client.post("/api/v1/events", orjson.dumps([good]), content_type="application/json")

    after = scrape(client)
    for result, expected in (("accepted", 1), ("rejected", 1), ("duplicate", 1)):
        moved = sample(after, "tally_ingested_events_total", result=result) - sample(
            before, "tally_ingested_events_total", result=result
        )
        assert moved == expected, result


def test_api_errors_are_counted_by_status(client, api_client):
    before = scrape(client)

    api_client.get("/api/v1/no-such-thing")
    api_client.get("/api/v1/me")  # no credential

    after = scrape(client)
    for status in ("404", "401"):
        moved = sample(after, "tally_api_errors_total", status=status) - sample(
            before, "tally_api_errors_total", status=status
        )
        assert moved == 1, status


def test_job_runs_are_counted_by_outcome_and_a_lock_skip_is_skipped(client, redis, settings):
    job = "test.metrics-job"
    before = scrape(client)

    run_job(job, lambda: {"done": 1})
    holder = JobLock(job, ttl=30, auto_extend=False)
    assert holder.acquire()
    try:
        skipped = run_job(job, lambda: pytest.fail("a skipped run must not work"))
    finally:
        holder.release()

    after = scrape(client)
    assert skipped.outcome == JobRun.Outcome.SKIPPED
    for outcome in ("ok", "skipped"):
        moved = sample(after, "tally_job_runs_total", job=job, outcome=outcome) - sample(
            before, "tally_job_runs_total", job=job, outcome=outcome
        )
        assert moved == 1, outcome
    timed = sample(after, "tally_job_duration_seconds_count", job=job) - sample(
        before, "tally_job_duration_seconds_count", job=job
    )
    assert timed == 2


def test_a_lost_job_lock_is_counted(client, redis, settings):
    job = "test.lost-lock"
    holder = JobLock(
        job,
        ttl=30,
        auto_extend=False,
        backend=RedisLockBackend(settings.REDIS_URL, settings.TALLY_LOCK_PREFIX),
    )
    assert holder.acquire()
    before = sample(scrape(client), "tally_job_lock_lost_total", job=job)

    redis.delete(settings.TALLY_LOCK_PREFIX + job)  # expired and gone, as after a long pause
    still_held = holder.extend()

    assert still_held is False and holder.lost
    assert sample(scrape(client), "tally_job_lock_lost_total", job=job) == before + 1
    holder.release()


def test_a_job_whose_lock_redis_is_down_is_skipped_and_counted(client, internal_client, settings):
    before = sample(scrape(client), "tally_redis_unavailable_total", component="job_lock")
    settings.TALLY_LOCK_BACKEND = "redis"
    settings.REDIS_URL = f"redis://127.0.0.1:{_closed_port()}/0"

    run = run_job("test.redis-down", lambda: pytest.fail("must not run without its lock"))
    over_the_api = internal_client.post("/api/v1/jobs/reconcile-usage")

    assert run.outcome == JobRun.Outcome.SKIPPED and run.finished_at is not None
    assert run.result["lock_unavailable"] is True
    assert over_the_api.status_code == 503
    assert over_the_api.json()["error"] == "lock_unavailable"
    assert sample(scrape(client), "tally_redis_unavailable_total", component="job_lock") == before + 2
