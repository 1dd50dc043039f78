"""The UsageService over HTTP: worked examples and bad input (a 400 that stores nothing)."""

from datetime import timedelta
from decimal import Decimal

import pytest

from core.timeutils import format_rfc3339
from usage.models import CostCenter, UsageEntry, WorkspaceInstance
from usage.tests.factories import NOON, UsageEntryFactory, new_attribution_id

pytestmark = pytest.mark.django_db


def put_instance(client, instance_id, **body):
    return client.put(f"/api/v1/workspace-instances/{instance_id}", body, format="json")


def test_lifecycle_then_reconcile_then_balance(internal_client):
    who = new_attribution_id()
    # Recent times: the reconcile job (at the real now) looks back 35 days for stopped instances.
    start, stopping, stop = (format_rfc3339(NOON + timedelta(seconds=s)) for s in (0, 360, 363))
    started = put_instance(
        internal_client,
        "ws-a",
        attribution_id=who,
        workspace_class="g1-standard",
        started_at=start,
    )
    assert started.status_code == 201
    assert started.json()["started_at"] == start
    stopped = put_instance(
        internal_client,
        "ws-a",
        attribution_id=who,
        workspace_class="g1-standard",
        started_at=start,
        stopping_time=stopping,
        stopped_time=stop,
    )
    assert stopped.status_code == 200

    job = internal_client.post("/api/v1/jobs/reconcile-usage")
    assert job.status_code == 200
    assert job.json()["outcome"] == "ok"
    assert job.json()["result"]["workspaces"]["created"] == 1

    balance = internal_client.get(f"/api/v1/balance/{who}")
    assert balance.json() == {"attribution_id": who, "credits": "1.000000"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {
                "workspace_class": "g1-standard",
                "started_at": "2026-11-23T12:00:00Z",
                "attribution_id": "org:1",
            },
            "attribution_id",
        ),
        ({"workspace_class": "g1-standard", "started_at": "yesterday", "attribution_id": None}, "started_at"),
        (
            {"workspace_class": "g1-standard", "started_at": "2026-11-23T12:00:00", "attribution_id": None},
            "started_at",
        ),
        (
            {"workspace_class": "", "started_at": "2026-11-23T12:00:00Z", "attribution_id": None},
            "workspace_class",
        ),
        # Found by fuzzing: these read as valid though the schema's patterns say otherwise.
        (
            {"workspace_class": "g1-standard", "started_at": " 2026-11-23T12:00:00Z", "attribution_id": None},
            "started_at",
        ),
        (
            {"workspace_class": "g1-standard", "started_at": "1899-12-31T23:00:00Z", "attribution_id": None},
            "started_at",
        ),
        (
            {
                "workspace_class": "g1-standard",
                "started_at": "2026-11-23T12:00:00Z",
                "attribution_id": " team:8a4f1a2e-55c1-4b6e-9a51-2f4d7c3e9b10",
            },
            "attribution_id",
        ),
    ],
)
def test_bad_lifecycle_reports_are_400_and_store_nothing(internal_client, body, field):
    body = {**body, "attribution_id": body["attribution_id"] or new_attribution_id()}
    response = put_instance(internal_client, "ws-bad", **body)
    assert response.status_code == 400
    assert response.json()["message"].startswith(field)
    assert not WorkspaceInstance.objects.exists()


def test_stopped_before_started_is_400(internal_client):
    response = put_instance(
        internal_client,
        "ws-b",
        attribution_id=new_attribution_id(),
        workspace_class="g1-standard",
        started_at="2026-11-23T12:00:00Z",
        stopped_time="2026-11-23T11:00:00Z",
    )
    assert response.status_code == 400
    assert response.json()["error"] == "stopped_before_started"
    assert not WorkspaceInstance.objects.exists()


def test_only_the_internal_token_reports_lifecycle(team_key_client, team):
    response = put_instance(
        team_key_client,
        "ws-c",
        attribution_id=team.attribution_id,
        workspace_class="x",
        started_at="2026-11-23T12:00:00Z",
    )
    assert response.status_code == 403


def test_balance_examples(internal_client):
    ten, minus_half, nobody = new_attribution_id(), new_attribution_id(), new_attribution_id()
    UsageEntryFactory(attribution_id=ten, credits=Decimal("1.00"))
    UsageEntryFactory(attribution_id=ten, credits=Decimal("9.00"))
    UsageEntryFactory(attribution_id=minus_half, credits=Decimal("4.50"))
    UsageEntryFactory(attribution_id=minus_half, credits=Decimal("-5.00"), kind="invoice")
    assert internal_client.get(f"/api/v1/balance/{ten}").json()["credits"] == "10.000000"
    assert internal_client.get(f"/api/v1/balance/{minus_half}").json()["credits"] == "-0.500000"
    assert internal_client.get(f"/api/v1/balance/{nobody}").json()["credits"] == "0.000000"


def test_balance_is_404_for_another_team_and_400_for_garbage(team_key_client, other_team, team):
    assert team_key_client.get(f"/api/v1/balance/{team.attribution_id}").status_code == 200
    assert team_key_client.get(f"/api/v1/balance/{other_team.attribution_id}").status_code == 404
    garbage = team_key_client.get("/api/v1/balance/team:123")
    assert garbage.status_code == 400
    assert garbage.json()["error"] == "invalid_attribution_id"


def test_credit_notes_over_http(internal_client):
    who = new_attribution_id()
    plus = internal_client.post(
        "/api/v1/credit-notes",
        {"attribution_id": who, "credits": "3", "description": "Outage"},
        format="json",
    )
    assert plus.status_code == 201
    assert plus.json()["credits"] == "-3.000000"
    assert internal_client.get(f"/api/v1/balance/{who}").json()["credits"] == "-3.000000"
    minus = internal_client.post(
        "/api/v1/credit-notes", {"attribution_id": who, "credits": -3, "description": "Undo"}, format="json"
    )
    assert minus.status_code == 201
    assert internal_client.get(f"/api/v1/balance/{who}").json()["credits"] == "0.000000"


@pytest.mark.parametrize(
    "body",
    [
        {"credits": "3", "description": ""},
        {"credits": "3", "description": "   "},
        {"credits": "3", "description": "x", "user_id": "bob"},
        {"credits": "abc", "description": "x"},
        {"credits": "1.0000001", "description": "x"},
        {"description": "x"},
        # Found by fuzzing: each of these was accepted (or was a 500):
        {"credits": "1e999999999", "description": "x"},  # InvalidOperation: a 500
        {"credits": 10**30, "description": "x"},  # InvalidOperation: a 500
        {"credits": " 3", "description": "x"},  # not the documented credits pattern
        {"credits": "3", "description": 0},  # a number is not a string
        {"credits": "3", "description": "x", "user_id": False},  # read as UUID(int=0)
        {"credits": "3", "description": "x", "user_id": 7},
        {"credits": "3", "description": "x", "user_id": "8a4f1a2e55c14b6e9a512f4d7c3e9b10"},  # no hyphens
        {"credits": "3", "description": "x", "user_id": " 8a4f1a2e-55c1-4b6e-9a51-2f4d7c3e9b10"},
    ],
)
def test_bad_credit_notes_are_400_and_store_nothing(internal_client, body):
    response = internal_client.post(
        "/api/v1/credit-notes", {"attribution_id": new_attribution_id(), **body}, format="json"
    )
    assert response.status_code == 400, response.json()
    assert set(response.json()) >= {"error", "message"}
    assert not UsageEntry.objects.exists()


def test_credit_notes_need_staff(team_key_client, team):
    response = team_key_client.post(
        "/api/v1/credit-notes",
        {"attribution_id": team.attribution_id, "credits": "3", "description": "me"},
        format="json",
    )
    assert response.status_code == 403


def test_cost_center_get_creates_lazily_and_put_changes_it(internal_client, settings):
    settings.TALLY_DEFAULT_SPENDING_LIMIT = "500"
    who = new_attribution_id()
    got = internal_client.get(f"/api/v1/cost-centers/{who}")
    assert got.status_code == 200
    assert got.json()["spending_limit"] == "500.000000"
    assert got.json()["billing_strategy"] == "other"
    assert got.json()["next_billing_time"].endswith("Z")

    put = internal_client.put(f"/api/v1/cost-centers/{who}", {"spending_limit": "10"}, format="json")
    assert put.status_code == 200
    assert put.json()["spending_limit"] == "10.000000"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"spending_limit": "-1"}, "negative_spending_limit"),
        ({"spending_limit": -1}, "negative_spending_limit"),
        ({"billing_strategy": "paypal"}, "invalid_billing_strategy"),
        ({"spending_limit": "1.0000001"}, None),
        ({"spending_limit": True}, None),
        ({}, "invalid"),  # found by fuzzing: an empty PUT answered 200 and changed nothing
        ({"spending_limit": 10**30}, "invalid"),  # found by fuzzing: a 500
    ],
)
def test_bad_cost_center_input_is_400_and_stores_nothing(internal_client, body, code):
    who = new_attribution_id()
    response = internal_client.put(f"/api/v1/cost-centers/{who}", body, format="json")
    assert response.status_code == 400
    if code:
        assert response.json()["error"] == code
    assert not CostCenter.objects.filter(attribution_id=who).exists()


def test_a_json_float_is_read_as_an_exact_decimal(internal_client):
    # 0.1 has no exact float; the parser reads it as Decimal("0.1") and it stays exact.
    who = new_attribution_id()
    response = internal_client.put(
        f"/api/v1/cost-centers/{who}", '{"spending_limit": 0.1}', content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["spending_limit"] == "0.100000"


def test_team_keys_read_their_cost_center_but_cannot_change_it(team_key_client, team, other_team):
    assert team_key_client.get(f"/api/v1/cost-centers/{team.attribution_id}").status_code == 200
    assert team_key_client.get(f"/api/v1/cost-centers/{other_team.attribution_id}").status_code == 404
    assert (
        team_key_client.put(
            f"/api/v1/cost-centers/{team.attribution_id}", {"spending_limit": "1"}, format="json"
        ).status_code
        == 403
    )


def test_list_usage_pages_sums_and_orders(internal_client):
    who = new_attribution_id()
    for day in range(1, 8):
        UsageEntryFactory(
            attribution_id=who, credits=Decimal(day), effective_time=f"2026-11-{day:02d}T10:00:00Z"
        )
    url = f"/api/v1/usage?attribution_id={who}&from=2026-11-01T00:00:00Z&to=2026-11-08T00:00:00Z"

    page1 = internal_client.get(url + "&per_page=3").json()
    assert [e["credits"] for e in page1["entries"]] == ["7.000000", "6.000000", "5.000000"]
    assert page1["credits_used"] == "28.000000"  # 1 + 2 + ... + 7, over the whole range
    assert page1["pagination"] == {"page": 1, "per_page": 3, "total": 7, "total_pages": 3}

    page3 = internal_client.get(url + "&per_page=3&page=3").json()
    assert [e["credits"] for e in page3["entries"]] == ["1.000000"]

    ascending = internal_client.get(url + "&order=asc&per_page=2").json()
    assert [e["effective_time"] for e in ascending["entries"]] == [
        "2026-11-01T10:00:00Z",
        "2026-11-02T10:00:00Z",
    ]

    narrow = internal_client.get(
        f"/api/v1/usage?attribution_id={who}&from=2026-11-03T00:00:00Z&to=2026-11-05T10:00:00Z"
    ).json()
    assert narrow["credits_used"] == "7.000000"  # days 3 and 4; day 5 at 10:00 is excluded ([from, to))


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("&from=2026-11-08T00:00:00Z&to=2026-11-01T00:00:00Z", "invalid_range"),
        ("&from=2025-01-01T00:00:00Z&to=2026-11-01T00:00:00Z", "range_too_long"),
        ("&per_page=1001", "invalid"),
        ("&per_page=0", "invalid"),
        ("&page=0", "invalid"),
        ("&order=sideways", "invalid_order"),
        ("&from=last-week", "invalid_time"),
        # Found by fuzzing:
        (f"&page={10**30}", "invalid"),  # OFFSET past bigint: a 500
        ("&from=", "invalid_time"),  # empty was read as "absent"
        ("&to=0001-01-01T00:00:00Z", "invalid_time"),  # to minus 300 days overflowed: a 500
    ],
)
def test_list_usage_bad_ranges_and_pages_are_400(internal_client, query, code):
    response = internal_client.get(f"/api/v1/usage?attribution_id={new_attribution_id()}{query}")
    assert response.status_code == 400
    assert response.json()["error"] == code


def test_list_usage_needs_an_attribution(internal_client):
    assert internal_client.get("/api/v1/usage").status_code == 400


def test_reset_job_over_http(internal_client):
    from datetime import UTC, datetime

    from usage.services import cost_center_get_or_create

    who = new_attribution_id()
    cost_center_get_or_create(attribution_id=who, now=datetime(2026, 1, 1, tzinfo=UTC))
    UsageEntryFactory(attribution_id=who, credits=Decimal("25"))
    response = internal_client.post("/api/v1/jobs/reset-usage")
    assert response.status_code == 200
    assert response.json()["result"]["cost_centers_closed"] == 1
    assert (
        internal_client.get(f"/api/v1/balance/{who}").json()["credits"] == "0.000000"
    )  # default limit 500 caps nothing here


def test_a_job_already_running_answers_409(internal_client, redis):
    from core.locks import job_lock

    with job_lock("usage.rate") as held:
        assert held.acquired
        response = internal_client.post("/api/v1/jobs/reconcile-usage")
    assert response.status_code == 409
    assert response.json()["error"] == "job_running"


def test_jobs_need_staff(team_key_client):
    assert team_key_client.post("/api/v1/jobs/reconcile-usage").status_code == 403
    assert team_key_client.post("/api/v1/jobs/reset-usage").status_code == 403


def test_usage_endpoints_are_in_the_schema(client):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    for path in [
        "/api/v1/workspace-instances/{instance_id}",
        "/api/v1/cost-centers/{attribution_id}",
        "/api/v1/balance/{attribution_id}",
        "/api/v1/usage",
        "/api/v1/credit-notes",
        "/api/v1/jobs/reconcile-usage",
        "/api/v1/jobs/reset-usage",
    ]:
        assert path in paths, path
