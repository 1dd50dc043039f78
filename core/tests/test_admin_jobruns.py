"""The job-runs admin: every run readable at a glance, nothing editable."""

from datetime import UTC, datetime, timedelta

import pytest

from billing.tests.factories import FinanceUserFactory
from core.models import JobRun

pytestmark = pytest.mark.django_db

STARTED = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)


@pytest.fixture
def runs():
    ok = JobRun.objects.create(
        job="billing.close_cycles",
        started_at=STARTED,
        finished_at=STARTED + timedelta(seconds=2.5),
        outcome="ok",
        result={"closed": ["team:a", "team:b"], "failed": []},
        triggered_by="beat",
    )
    failed = JobRun.objects.create(
        job="usage.rate",
        started_at=STARTED + timedelta(minutes=1),
        finished_at=STARTED + timedelta(minutes=1, milliseconds=40),
        outcome="error",
        error="OperationalError: the database went away",
        triggered_by="api:finance",
    )
    return ok, failed


@pytest.fixture
def finance_client(client):
    client.force_login(FinanceUserFactory())
    return client


def test_the_list_shows_job_outcome_times_with_zone_duration_and_a_readable_result(finance_client, runs):
    html = finance_client.get("/admin/core/jobrun/").content.decode()
    assert "billing.close_cycles" in html and "usage.rate" in html
    assert "2026-03-18 12:00:00 UTC" in html  # started, with its zone
    assert "2.5 s" in html and "40 ms" in html  # durations
    assert "closed 2, failed 0" in html  # the result in words, not JSON
    assert "OperationalError: the database went away" in html
    assert "api:finance" in html


def test_runs_filter_by_job_and_by_outcome(finance_client, runs):
    by_job = finance_client.get("/admin/core/jobrun/", {"job": "usage.rate"}).content.decode()
    assert "the database went away" in by_job and "closed 2" not in by_job
    by_outcome = finance_client.get("/admin/core/jobrun/", {"outcome": "ok"}).content.decode()
    assert "closed 2" in by_outcome and "the database went away" not in by_outcome


def test_a_run_is_read_only(finance_client, runs):
    ok, _ = runs
    page = finance_client.get(f"/admin/core/jobrun/{ok.pk}/change/")
    assert page.status_code == 200
    assert "team:a" in page.content.decode() and "team:b" in page.content.decode()  # the whole result
    assert finance_client.get("/admin/core/jobrun/add/").status_code == 403
    assert finance_client.post(f"/admin/core/jobrun/{ok.pk}/delete/", {"post": "yes"}).status_code == 403
    assert JobRun.objects.filter(pk=ok.pk).exists()
