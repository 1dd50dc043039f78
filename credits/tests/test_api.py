"""The credits API over HTTP: the worked examples again, then auth, bad input and the schema."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.timeutils import format_rfc3339
from credits.models import Feature, Grant, Ledger, Reset
from credits.tests.factories import T0, rated_usage
from usage.tests.factories import new_attribution_id

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def z(moment) -> str:
    return format_rfc3339(moment)


def post_grant(client, who, **body):
    response = client.post(f"/api/v1/ledgers/{who}/grants", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def get_balance(client, who, at=T0 + DAY):
    response = client.get(f"/api/v1/ledgers/{who}/balance", {"at": z(at)})
    assert response.status_code == 200, response.json()
    return response.json()


def by_id(body) -> dict:
    return {g["id"]: g["balance"] for g in body["grants"]}


# --- Worked examples -------------------------------------------------------------------------


def test_two_grants_by_priority(internal_client):
    who = new_attribution_id()
    first = post_grant(internal_client, who, amount="100", priority=1, effective_at=z(T0))
    second = post_grant(internal_client, who, amount="100", priority=2, effective_at=z(T0))
    rated_usage(who, 120, T0 + HOUR)

    body = get_balance(internal_client, who)

    assert by_id(body) == {first["id"]: "0.000000", second["id"]: "80.000000"}
    assert body["attribution_id"] == who
    assert body["at"] == z(T0 + DAY)
    assert (body["balance"], body["usage"], body["overage"]) == ("80.000000", "120.000000", "0.000000")
    assert body["features"] == {
        "credits": {
            "unit": "credits",
            "meter_slug": "credits",
            "balance": "80.000000",
            "usage": "120.000000",
            "overage": "0.000000",
        }
    }
    assert set(body["grants"][0]) == {
        "id",
        "feature",
        "unit",
        "amount",
        "balance",
        "priority",
        "effective_at",
        "expires_at",
        "voided_at",
    }


def test_equal_priority_sooner_expiry_first(internal_client):
    who = new_attribution_id()
    late = post_grant(
        internal_client, who, amount="100", effective_at=z(T0), expiration={"count": 100, "duration": "YEAR"}
    )
    soon = post_grant(
        internal_client, who, amount="100", effective_at=z(T0), expiration={"count": 30, "duration": "DAY"}
    )
    rated_usage(who, 120, T0 + HOUR)

    assert by_id(get_balance(internal_client, who)) == {soon["id"]: "0.000000", late["id"]: "80.000000"}
    assert soon["expires_at"] == z(T0 + 30 * DAY)
    assert late["expiration"] == {"count": 100, "duration": "YEAR"}


def test_no_grants_all_overage(internal_client):
    who = new_attribution_id()
    rated_usage(who, 50, T0 + HOUR)

    body = get_balance(internal_client, who)

    assert (body["balance"], body["overage"], body["grants"]) == ("0.000000", "50.000000", [])


def test_a_later_grant_pays_earlier_overage(internal_client):
    who = new_attribution_id()
    t = T0 + 2 * HOUR
    grant = post_grant(internal_client, who, amount="100", effective_at=z(t))
    rated_usage(who, 25, t - HOUR)
    rated_usage(who, 25, t + HOUR)

    assert by_id(get_balance(internal_client, who)) == {grant["id"]: "50.000000"}


def test_a_void_stops_a_grant(internal_client):
    who = new_attribution_id()
    grant = post_grant(internal_client, who, amount="100", effective_at=z(T0))
    rated_usage(who, 50, T0 + timedelta(minutes=30))
    rated_usage(who, 50, T0 + 2 * HOUR)

    voided = internal_client.post(
        f"/api/v1/ledgers/{who}/grants/{grant['id']}/void", {"voided_at": z(T0 + HOUR)}, format="json"
    )
    body = get_balance(internal_client, who)

    assert voided.status_code == 200
    assert voided.json()["voided_at"] == z(T0 + HOUR)
    assert (by_id(body), body["overage"]) == ({grant["id"]: "0.000000"}, "50.000000")


def test_an_expired_grant(internal_client):
    who = new_attribution_id()
    grant = post_grant(
        internal_client, who, amount="100", effective_at=z(T0), expiration={"count": 2, "duration": "HOUR"}
    )
    rated_usage(who, 10, T0 + HOUR)
    rated_usage(who, 10, T0 + 3 * HOUR)

    body = get_balance(internal_client, who)
    history = internal_client.get(f"/api/v1/ledgers/{who}/history", {"to": z(T0 + DAY)}).json()

    paid = [e for e in history["entries"] if e["type"] == "GRANT_USAGE"]
    assert [(e["grant_id"], e["amount"]) for e in paid] == [(grant["id"], "10.000000")]
    assert (by_id(body), body["overage"]) == ({grant["id"]: "0.000000"}, "10.000000")


def test_a_small_grant_first(internal_client):
    who = new_attribution_id()
    ten = post_grant(internal_client, who, amount="10", priority=1, effective_at=z(T0))
    hundred = post_grant(internal_client, who, amount="100", priority=2, effective_at=z(T0))
    rated_usage(who, 20, T0 + HOUR)

    assert by_id(get_balance(internal_client, who)) == {ten["id"]: "0.000000", hundred["id"]: "90.000000"}


@pytest.mark.parametrize(
    ("rollover", "used", "child_amount"),
    [
        ({"type": "REMAINING_AMOUNT", "max_amount": "50"}, 10, "50.000000"),
        ({"type": "ORIGINAL_AMOUNT"}, 70, "100.000000"),
    ],
)
def test_rollover_at_a_reset(internal_client, rollover, used, child_amount):
    who = new_attribution_id()
    parent = post_grant(internal_client, who, amount="100", effective_at=z(T0), rollover=rollover)
    rated_usage(who, used, T0 + HOUR)

    reset = internal_client.post(f"/api/v1/ledgers/{who}/reset", {"effective_at": z(T0 + DAY)}, format="json")

    assert reset.status_code == 201, reset.json()
    [child] = reset.json()["rollover_grants"]
    assert (child["amount"], child["parent_id"], child["effective_at"]) == (
        child_amount,
        parent["id"],
        z(T0 + DAY),
    )
    assert child["reset_id"] == reset.json()["id"]
    assert by_id(get_balance(internal_client, who, T0 + DAY + HOUR)) == {child["id"]: child_amount}
    grants = internal_client.get(f"/api/v1/ledgers/{who}/grants").json()["results"]
    assert [g["id"] for g in grants] == [child["id"], parent["id"]]


def test_a_grant_before_the_last_reset_is_a_400(internal_client):
    who = new_attribution_id()
    internal_client.post(f"/api/v1/ledgers/{who}/reset", {"effective_at": z(T0 + DAY)}, format="json")

    response = internal_client.post(
        f"/api/v1/ledgers/{who}/grants", {"amount": "10", "effective_at": z(T0)}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "before_last_reset"
    assert not Grant.objects.exists()


def test_a_reset_in_the_future_is_a_400(internal_client):
    who = new_attribution_id()
    future = timezone.now() + HOUR
    response = internal_client.post(
        f"/api/v1/ledgers/{who}/reset", {"effective_at": z(future)}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "reset_in_future"
    assert not Reset.objects.exists()


def test_a_reset_before_the_last_one_is_a_400(internal_client):
    who = new_attribution_id()
    url = f"/api/v1/ledgers/{who}/reset"
    assert internal_client.post(url, {"effective_at": z(T0 + DAY)}, format="json").status_code == 201
    assert internal_client.post(url, {"effective_at": z(T0)}, format="json").status_code == 400
    assert internal_client.post(url, {"effective_at": z(T0 + DAY)}, format="json").status_code == 409


def test_voiding_twice_is_a_409(internal_client):
    who = new_attribution_id()
    grant = post_grant(internal_client, who, amount="10", effective_at=z(T0))
    url = f"/api/v1/ledgers/{who}/grants/{grant['id']}/void"

    assert internal_client.post(url, {}, format="json").status_code == 200
    again = internal_client.post(url, {}, format="json")

    assert again.status_code == 409
    assert again.json()["error"] == "grant_already_voided"


# --- The "now" flow: defaults everywhere -------------------------------------------------------


def test_defaults_are_now_and_this_minute_counts(internal_client):
    who = new_attribution_id()
    grant = post_grant(internal_client, who, amount="100")
    rated_usage(who, 30, timezone.now())

    body = internal_client.get(f"/api/v1/ledgers/{who}/balance").json()
    entitlement = internal_client.get(f"/api/v1/entitlements/{who}/credits").json()

    assert by_id(body) == {grant["id"]: "70.000000"}
    assert entitlement == {
        "has_access": True,
        "feature": "credits",
        "unit": "credits",
        "balance": "70.000000",
        "usage": "30.000000",
        "overage": "0.000000",
    }


# --- Features and ledgers --------------------------------------------------------------------


def test_features_create_list_archive(internal_client, team_key_client):
    created = internal_client.post(
        "/api/v1/features",
        {
            "key": "api_calls",
            "name": "API calls",
            "meter_slug": "api-calls",
            "metadata_filters": {"region": "eu"},
        },
        format="json",
    )
    assert created.status_code == 201
    assert created.json()["meter_slug"] == "api-calls"
    again = internal_client.post("/api/v1/features", {"key": "api_calls"}, format="json")
    assert again.status_code == 409
    assert again.json()["error"] == "feature_exists"
    assert again.json()["details"]["name"] == "API calls"

    listed = team_key_client.get("/api/v1/features").json()
    assert [f["key"] for f in listed["results"]] == ["api_calls"]
    assert listed["pagination"]["total"] == 1
    assert team_key_client.delete("/api/v1/features/api_calls").status_code == 403

    assert internal_client.delete("/api/v1/features/api_calls").status_code == 204
    assert internal_client.delete("/api/v1/features/api_calls").status_code == 204
    assert internal_client.get("/api/v1/features").json()["results"] == []
    assert internal_client.get("/api/v1/features?include_archived=true").json()["results"][0]["archived_at"]
    # Deleted is gone for a plain read (found by schemathesis's use-after-free check), still there
    # on request: its grants keep pointing at it.
    assert internal_client.get("/api/v1/features/api_calls").status_code == 404
    assert internal_client.get("/api/v1/features/api_calls?include_archived=true").json()["archived_at"]
    assert internal_client.delete("/api/v1/features/nope").status_code == 404
    assert Feature.objects.get(key="api_calls").archived_at is not None


@pytest.mark.parametrize(
    "body",
    [
        {"key": ""},
        {"key": "Has Spaces"},
        {"key": "ok", "meter_slug": "no spaces allowed"},
        {"key": "credits", "meter_slug": "api-calls"},
        {"key": "ok", "metadata_filters": ["a"]},
        {"key": "ok\n"},  # found by fuzzing: `$` in the key's regex let a trailing newline through
        {"key": " ok"},
        {"key": 7},
    ],
)
def test_bad_features_are_400(internal_client, body):
    response = internal_client.post("/api/v1/features", body, format="json")
    assert response.status_code == 400
    assert set(response.json()) >= {"error", "message"}
    assert not Feature.objects.exists()


def test_ledger_create_and_the_409_with_the_existing_one(internal_client):
    who = new_attribution_id()
    created = internal_client.post("/api/v1/ledgers", {"subject": who}, format="json")
    assert created.status_code == 201
    assert created.json()["subject"] == who

    again = internal_client.post("/api/v1/ledgers", {"attribution_id": who}, format="json")

    assert again.status_code == 409
    assert again.json()["error"] == "ledger_exists"
    assert again.json()["details"] == created.json()
    assert internal_client.post("/api/v1/ledgers", {"subject": "org:1"}, format="json").status_code == 400
    assert internal_client.post("/api/v1/ledgers", {}, format="json").status_code == 400
    assert Ledger.objects.count() == 1


def test_a_metered_feature_grant(internal_client):
    internal_client.post("/api/v1/features", {"key": "seats", "meter_slug": "credits"}, format="json")
    who = new_attribution_id()
    seats = post_grant(internal_client, who, feature="seats", amount="10", effective_at=z(T0))
    rated_usage(who, 4, T0 + HOUR)

    body = get_balance(internal_client, who)

    assert seats["feature"] == "seats"
    # seats is a feature on the credits meter: its block, its grant and the totals are all credits
    assert body["features"]["seats"] == {
        "unit": "credits",
        "meter_slug": "credits",
        "balance": "6.000000",
        "usage": "4.000000",
        "overage": "0.000000",
    }
    assert body["features"]["credits"]["overage"] == "4.000000"
    assert [g["unit"] for g in body["grants"]] == ["credits"]
    assert (body["unit"], body["balance"], body["usage"], body["overage"]) == (
        "credits",
        "6.000000",
        "4.000000",
        "4.000000",
    )


# --- Bad input: 400, stores nothing ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"amount": "0"}, "invalid_amount"),
        ({"amount": "-1"}, "invalid_amount"),
        ({"amount": "abc"}, "invalid"),
        ({"amount": "1.0000001"}, "invalid"),
        ({}, "invalid"),
        ({"amount": "1", "priority": 256}, "invalid"),
        ({"amount": "1", "priority": "high"}, "invalid"),
        ({"amount": "1", "effective_at": "yesterday"}, "invalid"),
        ({"amount": "1", "effective_at": "2026-01-05T00:00:00"}, "invalid"),
        ({"amount": "1", "expiration": {"count": 0, "duration": "DAY"}}, "invalid"),
        ({"amount": "1", "expiration": {"count": 1, "duration": "CENTURY"}}, "invalid"),
        ({"amount": "1", "rollover": {"type": "HALF"}}, "invalid"),
        (
            {"amount": "1", "rollover": {"type": "REMAINING_AMOUNT", "max_amount": "1", "min_amount": "2"}},
            None,
        ),
        ({"amount": "1", "feature": "nope"}, "unknown_feature"),
        ({"amount": "1", "metadata": "text"}, "invalid"),
    ],
)
def test_bad_grants_are_400_and_store_nothing(internal_client, body, code):
    response = internal_client.post(f"/api/v1/ledgers/{new_attribution_id()}/grants", body, format="json")
    assert response.status_code == 400, response.json()
    assert set(response.json()) >= {"error", "message"}
    if code:
        assert response.json()["error"] == code
    assert not Grant.objects.exists()
    assert not Ledger.objects.exists()


def test_aliases_and_flat_fields_are_accepted(internal_client):
    internal_client.post("/api/v1/features", {"key": "gpu"}, format="json")
    who = new_attribution_id()
    grant = post_grant(
        internal_client,
        who,
        feature_key="gpu",
        amount=12.5,  # a JSON number with a fraction is read as an exact Decimal
        expiration_count=2,
        expiration_unit="WEEK",
        rollover_type="REMAINING_AMOUNT",
        rollover_max_amount="5",
        effective_at=z(T0),
    )
    assert (grant["feature"], grant["amount"], grant["expires_at"]) == ("gpu", "12.500000", z(T0 + 14 * DAY))
    assert grant["rollover"] == {"type": "REMAINING_AMOUNT", "max_amount": "5.000000", "min_amount": None}


def test_unknown_or_garbage_ids(internal_client):
    who = new_attribution_id()
    assert internal_client.post(f"/api/v1/ledgers/{who}/grants/1/void", {}, format="json").status_code == 404
    assert internal_client.post(f"/api/v1/ledgers/{who}/grants/x/void", {}, format="json").status_code == 404
    assert internal_client.get("/api/v1/ledgers/team:123/balance").json()["error"] == "invalid_attribution_id"
    assert internal_client.get(f"/api/v1/ledgers/{who}/balance?at=soon").status_code == 400
    # Found by fuzzing: an empty time and a non-boolean flag were read as "absent" (200).
    assert internal_client.get(f"/api/v1/ledgers/{who}/balance?at=").status_code == 400
    assert internal_client.get(f"/api/v1/ledgers/{who}/history?to=").status_code == 400
    assert internal_client.get("/api/v1/features?include_archived=null").status_code == 400
    assert internal_client.get("/api/v1/features?include_archived=FALSE").status_code == 200
    assert internal_client.get(f"/api/v1/entitlements/{who}/nope").status_code == 404
    history = internal_client.get(f"/api/v1/ledgers/{who}/history?from={z(T0 + DAY)}&to={z(T0)}")
    assert (history.status_code, history.json()["error"]) == (400, "invalid_range")
    assert internal_client.get(f"/api/v1/ledgers/{who}/history?per_page=0").status_code == 400


# --- Who may call what -----------------------------------------------------------------------


def test_team_keys_read_their_own_ledger_only(team_key_client, team, other_team):
    mine, theirs = team.attribution_id, other_team.attribution_id
    for path in ("balance", "history", "grants"):
        assert team_key_client.get(f"/api/v1/ledgers/{mine}/{path}").status_code == 200, path
        assert team_key_client.get(f"/api/v1/ledgers/{theirs}/{path}").status_code == 404, path
    assert team_key_client.get(f"/api/v1/entitlements/{mine}/credits").status_code == 200
    assert team_key_client.get(f"/api/v1/entitlements/{theirs}/credits").status_code == 404


def test_writes_need_staff_or_the_internal_token(team_key_client, team, client, staff_user, api_client):
    mine = team.attribution_id
    writes = [
        ("/api/v1/features", {"key": "x"}),
        ("/api/v1/ledgers", {"subject": mine}),
        (f"/api/v1/ledgers/{mine}/grants", {"amount": "1"}),
        (f"/api/v1/ledgers/{mine}/grants/1/void", {}),
        (f"/api/v1/ledgers/{mine}/reset", {}),
    ]
    for url, body in writes:
        assert team_key_client.post(url, body, format="json").status_code == 403, url
        assert api_client.post(url, body, format="json").status_code == 401, url
    client.force_login(staff_user)
    assert (
        client.post(
            f"/api/v1/ledgers/{mine}/grants", {"amount": "1"}, content_type="application/json"
        ).status_code
        == 201
    )


def test_credits_endpoints_are_in_the_schema_with_examples(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    for path, method in [
        ("/api/v1/features", "post"),
        ("/api/v1/features", "get"),
        ("/api/v1/features/{key}", "delete"),
        ("/api/v1/ledgers", "post"),
        ("/api/v1/ledgers/{attribution_id}/grants", "post"),
        ("/api/v1/ledgers/{attribution_id}/grants", "get"),
        ("/api/v1/ledgers/{attribution_id}/grants/{grant_id}/void", "post"),
        ("/api/v1/ledgers/{attribution_id}/balance", "get"),
        ("/api/v1/ledgers/{attribution_id}/history", "get"),
        ("/api/v1/ledgers/{attribution_id}/reset", "post"),
        ("/api/v1/entitlements/{attribution_id}/{feature_key}", "get"),
    ]:
        assert method in paths[path], (path, method)
    balance = paths["/api/v1/ledgers/{attribution_id}/balance"]["get"]
    assert "examples" in balance["responses"]["200"]["content"]["application/json"]
    grant_post = paths["/api/v1/ledgers/{attribution_id}/grants"]["post"]
    assert "examples" in grant_post["requestBody"]["content"]["application/json"]


def test_listing_grants_reads_a_fixed_number_of_rows(internal_client, django_assert_max_num_queries):
    who = new_attribution_id()
    for n in range(20):
        post_grant(internal_client, who, amount=str(n + 1), effective_at=z(T0))

    with django_assert_max_num_queries(4):
        listed = internal_client.get(f"/api/v1/ledgers/{who}/grants?per_page=10").json()

    assert len(listed["results"]) == 10
    assert listed["pagination"] == {"page": 1, "per_page": 10, "total": 20, "total_pages": 2}


def test_a_balance_before_1970_is_a_400_not_a_500(internal_client):
    # Found by fuzzing: at=1900-10-22 made the engine compute a period ending before it began.
    who = new_attribution_id()
    post_grant(internal_client, who, amount="100", effective_at=z(T0))
    response = internal_client.get(f"/api/v1/ledgers/{who}/balance", {"at": "1900-10-22T00:00:00Z"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_time"
    at_the_epoch = internal_client.get(f"/api/v1/ledgers/{who}/balance", {"at": "1970-01-01T00:00:00Z"})
    assert at_the_epoch.status_code == 200
