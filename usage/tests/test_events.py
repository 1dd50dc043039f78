"""Meter event ingestion: each unique key counted once, forever; bad events rejected with a reason."""

import threading
from datetime import timedelta
from decimal import Decimal

import orjson
import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from usage.models import MeterEvent, MeterRollup
from usage.tests.factories import new_attribution_id

pytestmark = pytest.mark.django_db


def event(key, who, *, at=None, **amounts):
    return {
        "unique_key": key,
        "attribution_id": who,
        "occurred_at": (at or timezone.now() - timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
        "amounts": amounts or {"samples": 10},
    }


def post(client, events):
    return client.post("/api/v1/events", orjson.dumps(events), content_type="application/json")


def stored_total(who, meter="samples"):
    return (
        MeterEvent.objects.filter(attribution_id=who, meter__slug=meter).aggregate(t=Sum("amount"))["t"] or 0
    )


def test_each_key_is_counted_once_forever(internal_client):
    who = new_attribution_id()
    batch = [event("a", who, samples=10), event("b", who, samples=20)]

    first = post(internal_client, batch)
    second = post(internal_client, batch)

    assert first.status_code == 200
    assert [r["status"] for r in first.json()["results"]] == ["accepted", "accepted"]
    assert [r["status"] for r in second.json()["results"]] == ["duplicate", "duplicate"]
    assert second.json()["duplicates"] == 2
    assert stored_total(who) == 30
    rollup = MeterRollup.objects.get(attribution_id=who)
    assert (rollup.total, rollup.event_count) == (30, 2)  # duplicates never reach the rollup


def test_results_come_back_in_request_order_with_reasons(internal_client):
    who = new_attribution_id()
    response = post(
        internal_client,
        [
            event("ok", who),
            {**event("bad", who), "amounts": {"bananas": 1}},
            event("ok", who),
            event("ok2", who),
        ],
    )
    assert response.json()["results"] == [
        {"unique_key": "ok", "status": "accepted", "reason": None},
        {"unique_key": "bad", "status": "rejected", "reason": "unknown amount type 'bananas'"},
        {"unique_key": "ok", "status": "duplicate", "reason": None},
        {"unique_key": "ok2", "status": "accepted", "reason": None},
    ]
    assert (response.json()["accepted"], response.json()["duplicates"], response.json()["rejected"]) == (
        2,
        1,
        1,
    )


def test_one_row_per_non_zero_amount(internal_client):
    who = new_attribution_id()
    post(internal_client, [event("multi", who, samples=5, **{"container-seconds": 60, "node-seconds": 0})])
    keys = sorted(MeterEvent.objects.filter(attribution_id=who).values_list("key", flat=True))
    assert keys == ["multi:container-seconds", "multi:samples"]


def test_a_single_object_is_a_batch_of_one(internal_client):
    who = new_attribution_id()
    response = post(internal_client, event("solo", who, samples=7))
    assert response.json()["results"][0]["status"] == "accepted"
    assert stored_total(who) == 7


NOW = "now"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"unique_key": ""}, "unique_key must be a non-blank string"),
        ({"unique_key": "   "}, "unique_key must be a non-blank string"),
        ({"unique_key": 17}, "unique_key must be a non-blank string"),
        ({"unique_key": "x" * 256}, "unique_key is longer than 255 characters"),
        ({"unique_key": "nul\x00"}, "unique_key must not contain NUL characters"),
        ({"attribution_id": "org:1"}, "attribution_id must be team:<uuid> or user:<uuid>"),
        ({"attribution_id": "team:nope"}, "attribution_id must end in a valid UUID"),
        ({"amounts": {"samples": -1}}, "amount of samples must not be negative"),
        ({"amounts": {"samples": 1.5}}, "amount of samples must be a whole number"),
        ({"amounts": {"samples": "10"}}, "amount of samples must be a whole number"),
        ({"amounts": {"samples": True}}, "amount of samples must be a whole number"),
        ({"amounts": {"bananas": 1}}, "unknown amount type 'bananas'"),
        ({"amounts": {}}, "amounts must be a non-empty object of meter slug to integer"),
        ({"occurred_at": "yesterday"}, "occurred_at must be an RFC 3339 time"),
        ({"occurred_at": "2026-11-23T12:00:00"}, "occurred_at needs a time zone (Z or an offset)"),
        ({"occurred_at": timedelta(days=-36)}, "occurred_at is more than 35 days in the past"),
        ({"occurred_at": timedelta(minutes=6)}, "occurred_at is more than 5 minutes in the future"),
        ({"metadata": {"blob": "x" * 5000}}, "metadata is larger than 4096 bytes"),
        ({"metadata": ["not", "an", "object"]}, "metadata must be a JSON object"),
        ({"instance_id": 42}, "instance_id must be a string of at most 255 characters"),
    ],
)
def test_malformed_events_are_rejected_with_a_reason_and_not_stored(internal_client, change, reason):
    who = new_attribution_id()
    bad = event("k", who)
    for field, value in change.items():
        if isinstance(value, timedelta):
            value = (timezone.now() + value).isoformat().replace("+00:00", "Z")
        bad[field] = value
    response = post(internal_client, [bad, event("good", who, samples=3)])
    results = response.json()["results"]
    assert results[0]["status"] == "rejected"
    assert results[0]["reason"] == reason
    assert results[1]["status"] == "accepted"
    assert stored_total(who) == 3


@pytest.mark.parametrize("key", [17, {}, ["a"], None])
def test_a_key_that_is_not_a_string_is_answered_as_null(internal_client, key):
    # Found by fuzzing: the answer echoed {} back as unique_key, which the schema types string|null.
    who = new_attribution_id()
    response = post(internal_client, [{**event("k", who), "unique_key": key}])
    assert response.status_code == 200
    assert response.json()["results"] == [
        {"unique_key": None, "status": "rejected", "reason": "unique_key must be a non-blank string"}
    ]


def test_times_at_the_edges_are_accepted(internal_client):
    who = new_attribution_id()
    edges = [
        event("old", who, at=timezone.now() - timedelta(days=34, hours=23)),
        event("ahead", who, at=timezone.now() + timedelta(minutes=4)),
        {**event("offset", who), "occurred_at": "2026-11-23T13:00:00+01:00"},
    ]
    edges[2]["occurred_at"] = (
        (timezone.now() - timedelta(hours=1)).astimezone(timezone.get_fixed_timezone(60)).isoformat()
    )
    assert [r["status"] for r in post(internal_client, edges).json()["results"]] == ["accepted"] * 3


def test_zero_amounts_are_skipped(internal_client):
    who = new_attribution_id()
    response = post(internal_client, [event("zero", who, samples=0)])
    assert response.json()["results"][0]["status"] == "accepted"
    assert not MeterEvent.objects.filter(attribution_id=who).exists()


def test_a_team_key_sends_only_its_own_attribution(team_key_client, team, other_team):
    response = post(
        team_key_client, [event("mine", team.attribution_id), event("theirs", other_team.attribution_id)]
    )
    assert [r["status"] for r in response.json()["results"]] == ["accepted", "rejected"]
    assert "its own attribution" in response.json()["results"][1]["reason"]
    assert not MeterEvent.objects.filter(attribution_id=other_team.attribution_id).exists()


def test_people_and_strangers_cannot_ingest(api_client, member, team):
    assert post(api_client, [event("x", team.attribution_id)]).status_code == 401
    api_client.force_login(member)
    assert post(api_client, [event("x", team.attribution_id)]).status_code == 403


def test_batches_over_1000_events_are_400(internal_client):
    who = new_attribution_id()
    response = post(internal_client, [event(f"k{n}", who) for n in range(1001)])
    assert response.status_code == 400
    assert response.json()["error"] == "batch_too_large"
    assert not MeterEvent.objects.exists()


def test_payloads_over_5_mib_are_413(internal_client):
    who = new_attribution_id()
    huge = [{**event(f"k{n}", who), "metadata": {"pad": "x" * 3000}} for n in range(1000)]
    huge.append({"pad": "y" * (6 * 1024 * 1024)})
    response = post(internal_client, huge)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'"text"', b"42"])
def test_malformed_bodies_are_400(internal_client, body):
    response = internal_client.post("/api/v1/events", body, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()) >= {"error", "message"}


def test_an_event_is_visible_in_meter_usage_and_balance_when_the_request_returns(internal_client):
    who = new_attribution_id()
    at = timezone.now().replace(second=30, microsecond=0) - timedelta(minutes=2)
    post(internal_client, [event("c1", who, at=at, **{"container-seconds": 3600})])
    usage = internal_client.get(
        f"/api/v1/meters/container-seconds/usage?attribution_id={who}&window=MINUTE"
    ).json()
    assert usage["total"] == 3600
    assert usage["data"] == [
        {
            "start": at.replace(second=0).isoformat().replace("+00:00", "Z"),
            "end": (at.replace(second=0) + timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
            "value": 3600,
        }
    ]
    # 3600 container-seconds at 0.0002 credits each, before any rating job has run.
    assert internal_client.get(f"/api/v1/balance/{who}").json()["credits"] == "0.720000"


def test_meter_usage_windows_and_bad_queries(internal_client, team_key_client, other_team):
    who = new_attribution_id()
    base = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    post(
        internal_client,
        [event(f"e{n}", who, at=base + timedelta(minutes=25 * n), samples=n + 1) for n in range(6)],
    )
    url = f"/api/v1/meters/samples/usage?attribution_id={who}&from={base.isoformat().replace('+00:00', 'Z')}"
    hourly = internal_client.get(url + "&window=HOUR").json()
    assert [w["value"] for w in hourly["data"]] == [1 + 2 + 3, 4 + 5, 6]  # minutes 0,25,50 | 75,100 | 125
    daily = internal_client.get(url + "&window=day").json()
    assert daily["total"] == 21
    assert internal_client.get(url + "&window=WEEK").status_code == 400
    assert internal_client.get(f"/api/v1/meters/bananas/usage?attribution_id={who}").status_code == 404
    assert internal_client.get("/api/v1/meters/samples/usage").status_code == 400
    assert (
        team_key_client.get(
            f"/api/v1/meters/samples/usage?attribution_id={other_team.attribution_id}"
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("&to=", "to must be an RFC 3339 time."),  # empty is not "absent"
        ("&from=0001-01-01T00:00:00Z", "from must be between 1900-01-01T00:00:00Z and 9000-01-01T00:00:00Z"),
        ("&to=9999-12-31T23:59:59-23:59", "to must be between"),  # past datetime.max in UTC: was a 500
    ],
)
def test_meter_usage_times_out_of_range_or_empty_are_400(internal_client, query, message):
    who = new_attribution_id()
    response = internal_client.get(f"/api/v1/meters/samples/usage?attribution_id={who}{query}")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_time"
    assert response.json()["message"].startswith(message)


def test_meters_are_listed(team_key_client):
    slugs = [m["slug"] for m in team_key_client.get("/api/v1/meters").json()["results"]]
    assert slugs == sorted(
        [
            "container-seconds",
            "node-seconds",
            "weavenet-seconds",
            "samples",
            "traffic-bytes",
            "workspace-seconds",
        ]
    )


def test_facts_cannot_be_changed():
    from usage.models import Meter

    fact = MeterEvent.objects.create(
        attribution_id=new_attribution_id(),
        key="k:samples",
        meter=Meter.objects.get(slug="samples"),
        occurred_at=timezone.now(),
        amount=1,
        received_at=timezone.now(),
    )
    fact.amount = 2
    with pytest.raises(ValueError):
        fact.save()
    with pytest.raises(ValueError):
        fact.delete()


@pytest.mark.django_db(transaction=True)
def test_a_batch_never_half_applies_on_a_server_error(internal_client, reference_data):
    """A database failure in the middle of a batch stores none of it; the retry stores all once."""
    who = new_attribution_id()
    batch = [event(f"k{n}", who, samples=n + 1) for n in range(10)]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION fail_on_boom() RETURNS trigger AS $$ BEGIN"
            " IF NEW.key = 'k7:samples' THEN RAISE EXCEPTION 'disk on fire'; END IF; RETURN NEW; END;"
            " $$ LANGUAGE plpgsql;"
            "CREATE TRIGGER fail_on_boom BEFORE INSERT ON usage_meterevent"
            " FOR EACH ROW EXECUTE FUNCTION fail_on_boom();"
        )
    try:
        internal_client.raise_request_exception = False
        failed = post(internal_client, batch)
        assert failed.status_code == 500
        assert failed.json()["error"] == "server_error"
        assert MeterEvent.objects.filter(attribution_id=who).count() == 0
        assert not MeterRollup.objects.filter(attribution_id=who).exists()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER fail_on_boom ON usage_meterevent; DROP FUNCTION fail_on_boom();")
    retried = post(internal_client, batch)
    assert retried.json()["accepted"] == 10
    assert stored_total(who) == sum(range(1, 11))


@pytest.mark.django_db(transaction=True)
def test_concurrent_clients_resending_overlapping_batches_store_each_key_once(settings, reference_data):
    from rest_framework.test import APIClient

    who = new_attribution_id()
    keys = [f"k{n}" for n in range(400)]
    amounts = {key: n % 13 + 1 for n, key in enumerate(keys)}
    errors = []

    def client_run(offset):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {settings.INTERNAL_SERVICE_TOKEN}")
        try:
            for start in range(0, 400, 100):
                # each client sends the same keys in a rotated order, twice
                chunk = keys[(start + offset) % 400 :] + keys[: (start + offset) % 400]
                batch = [event(k, who, samples=amounts[k]) for k in chunk[:150]]
                for _ in range(2):
                    response = post(client, batch)
                    assert response.status_code == 200, response.content
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=client_run, args=(offset,)) for offset in (0, 37, 150, 299)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored_keys = set(MeterEvent.objects.filter(attribution_id=who).values_list("key", flat=True))
    sent = {
        k
        for offset in (0, 37, 150, 299)
        for start in range(0, 400, 100)
        for k in (keys[(start + offset) % 400 :] + keys[: (start + offset) % 400])[:150]
    }
    assert stored_keys == {f"{k}:samples" for k in sent}
    expected = sum(amounts[k] for k in sent)
    assert stored_total(who) == expected
    assert MeterRollup.objects.filter(attribution_id=who).aggregate(t=Sum("total"))["t"] == expected
    assert MeterRollup.objects.filter(attribution_id=who).aggregate(c=Sum("event_count"))["c"] == len(sent)
    assert Decimal(expected) > 0
