"""Ops endpoints (billing-service shape) and traffic account reads, over the real URLs."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from core.jobs import TRAFFIC_COLLECT_AND_RATE
from core.models import JobRun
from devtools.exporter import FakeAccount
from traffic.models import TrafficMinute
from traffic.services import traffic_collect_and_rate
from traffic.tests.factories import ExporterNode, traffic_account

pytestmark = pytest.mark.django_db

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def node(redis):
    ann = FakeAccount(uuid=str(uuid.uuid4()), email="ann@example.com")
    started = ExporterNode(
        node_id="node-a", accounts=[ann], token=settings.INTERNAL_SERVICE_TOKEN, idle_share=0.0
    )
    started.ann = ann
    yield started
    started.stop()


def real_until() -> datetime:
    return timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=1)


@pytest.mark.parametrize(
    ("image", "tag", "commit"),
    [
        (f"registry.example.com/billing-service:sha-{SHA}", f"sha-{SHA}", SHA),
        (f"registry.example.com/tally:{SHA}", SHA, SHA),
        ("registry.example.com:5000/tally:v1.4.2", "v1.4.2", ""),
        ("registry.example.com:5000/tally", "", ""),
        (f"registry.example.com/tally@sha256:{'a' * 64}", "", ""),
        (f"registry.example.com/tally:sha-{SHA[:39]}", f"sha-{SHA[:39]}", ""),
        ("", "", ""),
    ],
)
def test_ping_reads_the_image_and_leaves_unknown_fields_empty(api_client, settings, image, tag, commit):
    settings.IMAGE = image
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-valid-token")  # open: credentials ignored
    response = api_client.get("/api/ping")
    assert response.status_code == 200
    assert response.json() == {"image": image, "tag": tag, "commit": commit, "version": commit}


def health_of(client, path: str = "/healthz") -> tuple[int, dict]:
    response = client.get(path)
    return response.status_code, response.json()


def test_healthz_collect_is_503_exactly_when_the_last_run_is_an_error(api_client, internal_client, node):
    assert health_of(api_client, "/healthz/collect") == (200, {"status": "ok", "message": ""})
    node.source.delete()

    failed = internal_client.post("/v1/jobs/collect-and-rate")

    assert failed.status_code == 503
    body = failed.json()
    assert body["error"] == "job_failed" and "no enabled exporter sources" in body["message"]
    assert body["details"]["status"] == "error"
    degraded = {"status": "degraded", "message": "no enabled exporter sources configured"}
    assert health_of(api_client, "/healthz/collect") == (503, degraded)
    # The whole service: the same fields, and the checks behind them.
    code, whole = health_of(api_client)
    assert code == 503 and {k: whole[k] for k in ("status", "message")} == degraded
    assert whole["checks"]["jobs"]["status"] == "error"
    assert [
        r["outcome"] for r in whole["checks"]["jobs"]["runs"] if r["job"] == TRAFFIC_COLLECT_AND_RATE
    ] == ["error"]

    from traffic.tests.factories import ExporterSourceFactory

    ExporterSourceFactory(source_id="node-a", base_url=node.server.url)
    assert internal_client.post("/v1/jobs/collect-and-rate").status_code == 200
    assert health_of(api_client, "/healthz/collect")[0] == 200
    assert health_of(api_client)[0] == 200


def test_healthz_checks_the_database_the_lock_store_and_every_job(db, api_client, redis):
    code, body = health_of(api_client)
    assert code == 200
    assert body["status"] == "ok" and body["message"] == ""
    assert body["checks"]["database"] == {"status": "ok", "vendor": "postgresql", "message": ""}
    assert body["checks"]["lock_store"] == {"status": "ok", "backend": "redis", "message": ""}
    assert body["checks"]["jobs"] == {"status": "ok", "runs": [], "message": ""}

    now = timezone.now()
    JobRun.objects.create(job="credits.snapshot", started_at=now, finished_at=now, outcome="ok")
    JobRun.objects.create(
        job="billing.close_cycles", started_at=now, finished_at=now, outcome="error", error="boom"
    )
    JobRun.objects.create(job="billing.close_cycles", started_at=now - timedelta(minutes=15), outcome="ok")

    code, body = health_of(api_client)
    assert code == 503
    assert body["status"] == "degraded"
    assert body["message"] == "job billing.close_cycles: its last run failed"
    runs = {r["job"]: r for r in body["checks"]["jobs"]["runs"]}
    assert (
        runs["billing.close_cycles"]["outcome"] == "error" and runs["billing.close_cycles"]["error"] == "boom"
    )
    assert runs["credits.snapshot"]["outcome"] == "ok"
    # The collector alone is healthy: it never ran.
    assert health_of(api_client, "/healthz/collect") == (200, {"status": "ok", "message": ""})

    JobRun.objects.create(job="billing.close_cycles", started_at=now + timedelta(seconds=1), outcome="ok")
    assert health_of(api_client)[0] == 200


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


@pytest.mark.django_db
def test_healthz_is_503_when_redis_is_unreachable_and_the_database_is_not(api_client, settings):
    settings.TALLY_LOCK_BACKEND = "redis"
    settings.REDIS_URL = f"redis://127.0.0.1:{_closed_port()}/0"

    code, body = health_of(api_client)

    assert code == 503
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["lock_store"]["status"] == "error"
    assert body["checks"]["lock_store"]["backend"] == "redis"
    assert body["message"].startswith("lock_store: ")
    assert health_of(api_client, "/healthz/collect")[0] == 200  # the collector's own meaning


@pytest.mark.django_db
def test_healthz_names_the_database_lock_backend_of_the_embedded_default(api_client, settings):
    settings.TALLY_LOCK_BACKEND = "database"
    code, body = health_of(api_client)
    assert code == 200
    assert body["checks"]["lock_store"] == {"status": "ok", "backend": "database", "message": ""}


def test_jobs_are_post_only_for_the_internal_token(api_client, internal_client, team_key_client, node):
    for client in (api_client, internal_client):
        for method in ("get", "put", "delete", "patch"):
            for path in ("/v1/jobs/collect-and-rate", "/v1/jobs/reconcile"):
                response = getattr(client, method)(path)
                assert response.status_code == 405, (method, path)
                assert response.json()["error"] == "method_not_allowed"
    assert api_client.post("/v1/jobs/collect-and-rate").status_code == 401
    assert team_key_client.post("/v1/jobs/collect-and-rate").status_code == 403


def test_collect_and_rate_and_reconcile_run_now_and_status_shows_them(internal_client, node):
    until = real_until()
    node.generator.snapshot(until - timedelta(seconds=30), traffic={node.ann.uuid: (100, 50)})

    response = internal_client.post("/v1/jobs/collect-and-rate")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["job"] == "collect-and-rate" and body["status"] == "ok"
    assert (body["processed_samples"], body["written_minutes"], body["replayed_minutes"]) == (1, 1, 0)
    assert body["source_statuses"][0]["source_id"] == "node-a"
    assert body["source_statuses"][0]["last_completed_until"]
    run = JobRun.objects.get(job=TRAFFIC_COLLECT_AND_RATE)
    assert run.outcome == "ok" and run.triggered_by.startswith("api:")

    again = internal_client.post("/v1/jobs/reconcile").json()
    assert again["job"] == "reconcile"
    assert (again["processed_samples"], again["written_minutes"], again["replayed_minutes"]) == (0, 0, 1)

    status = internal_client.get("/v1/status")
    assert status.status_code == 200
    status_body = status.json()
    assert {k: status_body[k] for k in ("job", "status", "replayed_minutes")} == {
        "job": "reconcile",
        "status": "ok",
        "replayed_minutes": 1,
    }
    assert status_body["started_at"].endswith("Z") and status_body["finished_at"].endswith("Z")
    (source,) = status_body["source_statuses"]
    assert set(source) == {
        "source_id",
        "last_completed_until",
        "last_attempted_at",
        "last_succeeded_at",
        "last_error",
    }


def test_a_second_copy_while_a_run_holds_the_lock_is_409(internal_client, node):
    from core.locks import job_lock

    with job_lock(TRAFFIC_COLLECT_AND_RATE):
        response = internal_client.post("/v1/jobs/collect-and-rate")
    assert response.status_code == 409
    assert response.json()["error"] == "job_running"


def test_status_is_for_staff_and_internal_only(
    api_client, internal_client, team_key_client, staff_user, client
):
    assert api_client.get("/v1/status").status_code == 401
    assert team_key_client.get("/v1/status").status_code == 403
    body = internal_client.get("/v1/status").json()
    assert body["status"] == "never_run" and body["started_at"] is None
    client.force_login(staff_user)
    assert client.get("/v1/status").status_code == 200


def test_a_partial_run_is_200_and_reports_the_failed_source(internal_client, node):
    from traffic.tests.factories import ExporterSourceFactory

    ExporterSourceFactory(source_id="node-down", base_url="http://127.0.0.1:9", timeout_seconds=1)
    response = internal_client.post("/v1/jobs/collect-and-rate")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "partial"
    failed = next(s for s in body["source_statuses"] if s["source_id"] == "node-down")
    assert "ConnectionError" in failed["last_error"]
    assert JobRun.objects.get(job=TRAFFIC_COLLECT_AND_RATE).outcome == "partial"


@pytest.fixture
def team_account(node, team):
    """ann's account belongs to the team; 25 minutes of her traffic are rated."""
    traffic_account(
        account_uuid=node.ann.uuid,
        attribution_id=team.attribution_id,
        included_quota_bytes=1000,
        price_per_byte=Decimal("0.001"),
        package_name="starter",
    )
    start = datetime(2026, 11, 23, 11, 30, tzinfo=UTC)
    node.generator.advance(start=start, until=start + timedelta(minutes=25), interval=timedelta(minutes=1))
    moment = start + timedelta(minutes=2)
    while moment <= start + timedelta(minutes=28):
        traffic_collect_and_rate(now=moment)
        moment += timedelta(minutes=1)
    return node.ann.uuid


def test_usage_summary_for_a_member_of_the_account_team(api_client, member, team_account, node):
    api_client.force_login(member)
    response = api_client.get("/api/account/usage/summary", {"account_uuid": team_account})
    assert response.status_code == 200, response.json()
    body = response.json()
    true = node.generator.billable_bytes()
    assert body["account_uuid"] == team_account and body["email"] == "ann@example.com"
    assert body["total_bytes"] == true == body["uplink_bytes"] + body["downlink_bytes"]
    assert body["included_quota_bytes"] == 1000
    assert body["remaining_included_quota"] == 0 and body["used_bytes"] == 1000
    assert body["usage_percent"] == "100.00"
    assert body["chargeable_bytes"] == true - 1000
    assert Decimal(body["charged_credits"]) == sum(TrafficMinute.objects.values_list("credits", flat=True))
    assert body["last_bucket_at"] == "2026-11-23T11:54:00Z"  # the 11:55:00 reading closes 11:54
    assert body["billing_profile"]["package_name"] == "starter"
    assert body["billing_profile"]["price_per_byte"] == "0.001000000000000"
    assert body["source_of_truth"] == "postgresql"


def test_account_reads_only_for_accounts_the_caller_may_see(
    api_client, internal_client, team_key_client, team_account, other_team
):
    from billing.tests.factories import MembershipFactory, UserFactory
    from core.tests.factories import APIKeyFactory

    outsider = UserFactory(username="eve")
    MembershipFactory(team=other_team, user=outsider)
    other_key = APIKeyFactory(attribution_id=other_team.attribution_id)
    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=f"Bearer {other_key.raw_key}")
    for path in ("/api/account/usage/summary", "/api/account/usage/buckets", "/api/account/billing/summary"):
        query = {"account_uuid": team_account}
        assert team_key_client.get(path, query).status_code == 200
        assert internal_client.get(path, query).status_code == 200
        assert other_client.get(path, query).status_code == 404
        api_client.force_login(outsider)
        assert api_client.get(path, query).status_code == 404
        api_client.logout()
        assert api_client.get(path, query).status_code == 401
        assert internal_client.get(path).json()["error"] == "invalid_account_uuid"
        assert internal_client.get(path, {"account_uuid": "nope"}).status_code == 400
        assert internal_client.get(path, {"account_uuid": str(uuid.uuid4())}).status_code == 404


def test_usage_buckets_between_start_and_end_inclusive(internal_client, team_account):
    query = {"account_uuid": team_account, "start": "2026-11-23T11:40", "end": "2026-11-23T11:42"}
    body = internal_client.get("/api/account/usage/buckets", query).json()
    assert [b["bucket_start"] for b in body["buckets"]] == [
        "2026-11-23T11:40:00Z",
        "2026-11-23T11:41:00Z",
        "2026-11-23T11:42:00Z",
    ]
    assert body["buckets"][0]["bucket_end"] == "2026-11-23T11:41:00Z"
    assert body["buckets"][0]["node_id"] == "prod:node-a"
    assert body["total_bytes"] == sum(b["total_bytes"] for b in body["buckets"])

    rfc = {"account_uuid": team_account, "start": "2026-11-23T12:40:00+01:00", "end": "2026-11-23T11:40:30Z"}
    assert len(internal_client.get("/api/account/usage/buckets", rfc).json()["buckets"]) == 1

    for field, value in (
        ("start", "yesterday"),
        ("end", "2026-11-23 11:40"),
        ("start", "2026-11-23T11:40:00"),
    ):
        response = internal_client.get(
            "/api/account/usage/buckets", {"account_uuid": team_account, field: value}
        )
        assert response.status_code == 400
        assert response.json()["error"] == f"invalid_{field}"
    backwards = {"account_uuid": team_account, "start": "2026-11-23T11:42", "end": "2026-11-23T11:40"}
    assert internal_client.get("/api/account/usage/buckets", backwards).json()["error"] == "invalid_range"


def test_billing_summary_lists_the_20_newest_traffic_ledger_rows(internal_client, team_account, team):
    body = internal_client.get("/api/account/billing/summary", {"account_uuid": team_account}).json()
    assert body["attribution_id"] == team.attribution_id
    assert TrafficMinute.objects.count() > 20
    assert len(body["ledger"]) == 20
    starts = [row["bucket_start"] for row in body["ledger"]]
    assert starts == sorted(starts, reverse=True) and starts[0] == "2026-11-23T11:54:00Z"
    row = body["ledger"][0]
    assert row["entry_type"] == "traffic_charge"
    assert row["object_id"] == f"traffic:{team_account}:prod:node-a:2026-11-23T11:54:00Z:default:"
    assert body["quota_state"]["remaining_included_quota"] == 0
    assert body["billing_profile"]["included_quota_bytes"] == 1000


def test_the_traffic_endpoints_are_in_the_schema(client):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    for path in (
        "/api/ping",
        "/healthz",
        "/healthz/collect",
        "/v1/status",
        "/v1/jobs/collect-and-rate",
        "/v1/jobs/reconcile",
        "/api/account/usage/summary",
        "/api/account/usage/buckets",
        "/api/account/billing/summary",
    ):
        assert path in paths, path
