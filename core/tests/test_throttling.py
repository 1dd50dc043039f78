"""Throttling: per key, per user, per IP for anonymous callers, ingestion on its own rate, 429 with
Retry-After in the error shape, and fail-open when Redis is unreachable."""

import logging
import socket
import time

import orjson
import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from core.tests.factories import APIKeyFactory
from core.tests.prometheus import sample, scrape
from core.throttling import client_ip, ip_bucket, parse_rate

pytestmark = pytest.mark.django_db

THREE_AN_HOUR = "3/hour"
TWO_AN_HOUR = "2/hour"


@pytest.fixture(autouse=True)
def fresh_buckets():
    """Throttle counters of earlier runs (same minute, same ids) must not leak into these tests."""

    def clear():
        client = cache._cache.get_client(write=True)
        for key in client.scan_iter(match=cache.make_key("throttle:*")):
            client.delete(key)

    clear()
    # Windows are aligned on the hour: never start a test in its last seconds.
    to_edge = 3600 - time.time() % 3600
    if to_edge < 5:
        time.sleep(to_edge + 0.1)
    yield
    clear()


def key_client(api_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.raw_key}")
    return client


def assert_throttled(response) -> int:
    assert response.status_code == 429, response.content
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == "throttled"
    retry_after = body["details"]["retry_after"]
    assert response["Retry-After"] == str(retry_after)
    assert 0 < retry_after <= 3600
    assert f"retry after {retry_after} second" in body["message"]
    return retry_after


def test_each_api_key_has_its_own_bucket(settings, client, caplog):
    settings.TALLY_THROTTLE_KEY = THREE_AN_HOUR
    key_a, key_b = APIKeyFactory(name="a"), APIKeyFactory(name="b")
    throttled_before = sample(scrape(client), "tally_throttled_requests_total", scope="key")

    answers_a = [key_client(key_a).get("/api/v1/me").status_code for _ in range(3)]
    fourth_a = key_client(key_a).get("/api/v1/me")
    first_b = key_client(key_b).get("/api/v1/me")

    assert answers_a == [200, 200, 200]
    assert_throttled(fourth_a)
    assert first_b.status_code == 200
    assert f"Throttled key (key {key_a.pk}): over 3 per hour" in caplog.text  # who, for the operator
    throttled_after = sample(scrape(client), "tally_throttled_requests_total", scope="key")
    assert throttled_after == throttled_before + 1


def test_anonymous_callers_are_counted_per_ip_including_failed_credentials(settings, api_client):
    settings.TALLY_THROTTLE_ANON = THREE_AN_HOUR
    guesser, neighbour = "203.0.113.7", "203.0.113.8"

    no_credential = api_client.get("/api/v1/me", REMOTE_ADDR=guesser)
    wrong_key = api_client.get("/api/v1/me", REMOTE_ADDR=guesser, HTTP_AUTHORIZATION="Bearer tally_nope")
    wrong_token = api_client.get("/api/v1/me", REMOTE_ADDR=guesser, HTTP_AUTHORIZATION="Bearer nope")
    fourth = api_client.get("/api/v1/me", REMOTE_ADDR=guesser, HTTP_AUTHORIZATION="Bearer tally_nope2")
    from_neighbour = api_client.get("/api/v1/me", REMOTE_ADDR=neighbour)

    assert [r.status_code for r in (no_credential, wrong_key, wrong_token)] == [401, 401, 401]
    assert_throttled(fourth)
    assert from_neighbour.status_code == 401


def test_behind_trusted_proxies_the_forwarded_address_is_the_client(settings, api_client):
    settings.TALLY_THROTTLE_ANON = TWO_AN_HOUR
    settings.TALLY_THROTTLE_TRUSTED_PROXIES = 1
    proxy = "10.0.0.2"

    def via_proxy(forwarded_for):
        return api_client.get("/api/v1/me", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=forwarded_for)

    # A client may put anything on the left of the header; the proxy appends what it saw.
    first = via_proxy("198.51.100.1, 203.0.113.20")
    second = via_proxy("198.51.100.2, 203.0.113.20")
    third = via_proxy("203.0.113.20")
    other_client = via_proxy("203.0.113.21")

    assert [first.status_code, second.status_code] == [401, 401]
    assert_throttled(third)
    assert other_client.status_code == 401


def test_client_ip_and_buckets(rf, settings):
    settings.TALLY_THROTTLE_TRUSTED_PROXIES = 0
    spoofed = rf.get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert client_ip(spoofed) == "192.0.2.1"  # no trusted proxy: the header is ignored
    settings.TALLY_THROTTLE_TRUSTED_PROXIES = 2
    two_hops = rf.get("/", REMOTE_ADDR="10.0.0.3", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9, 10.0.0.2")
    assert client_ip(two_hops) == "203.0.113.9"
    # One IPv6 host usually holds a whole /64.
    assert ip_bucket("2001:db8:1:2:aaaa::1") == ip_bucket("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert ip_bucket("::ffff:192.0.2.4") == "192.0.2.4"
    assert ip_bucket("not an address") == "unknown"
    assert parse_rate("3000/min").limit == 3000 and parse_rate("3000/min").seconds == 60
    assert parse_rate("") is None


def test_signed_in_users_are_counted_per_user(settings, member):
    settings.TALLY_THROTTLE_USER = TWO_AN_HOUR
    browser = APIClient()
    browser.force_login(member)

    answers = [browser.get("/api/v1/me").status_code for _ in range(2)]

    assert answers == [200, 200]
    assert_throttled(browser.get("/api/v1/me"))


def test_ingestion_has_its_own_higher_rate(settings, client):
    settings.TALLY_THROTTLE_KEY = TWO_AN_HOUR
    settings.TALLY_THROTTLE_INGEST = "4/hour"
    sender = key_client(APIKeyFactory(name="sender"))
    # An event for another attribution is rejected with a reason, but the batch is a 200.
    batch = orjson.dumps([{"unique_key": "k", "attribution_id": "team:nobody"}])
    throttled_before = sample(scrape(client), "tally_throttled_requests_total", scope="ingest")

    batches = [
        sender.post("/api/v1/events", batch, content_type="application/json").status_code for _ in range(4)
    ]
    fifth = sender.post("/api/v1/events", batch, content_type="application/json")
    reads = [sender.get("/api/v1/me").status_code for _ in range(2)]

    assert batches == [200, 200, 200, 200]  # twice the key's general rate
    assert_throttled(fifth)
    assert reads == [200, 200]  # ingestion spent nothing of the key's general bucket
    throttled_after = sample(scrape(client), "tally_throttled_requests_total", scope="ingest")
    assert throttled_after == throttled_before + 1


def test_the_internal_token_is_exempt_unless_given_a_rate(settings, internal_client):
    settings.TALLY_THROTTLE_KEY = settings.TALLY_THROTTLE_ANON = TWO_AN_HOUR

    exempt = [internal_client.get("/api/v1/me").status_code for _ in range(5)]
    settings.TALLY_THROTTLE_INTERNAL = THREE_AN_HOUR
    capped = [internal_client.get("/api/v1/me").status_code for _ in range(4)]

    assert exempt == [200] * 5
    assert capped == [200, 200, 200, 429]


def test_health_probes_are_never_throttled(settings, api_client):
    settings.TALLY_THROTTLE_ANON = TWO_AN_HOUR
    answers = {api_client.get("/api/ping").status_code for _ in range(4)}
    assert answers == {200}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def test_throttling_fails_open_when_redis_is_unreachable(settings, client, caplog):
    settings.TALLY_THROTTLE_KEY = "1/hour"
    sender = key_client(APIKeyFactory(name="sender"))
    down_before = sample(scrape(client), "tally_redis_unavailable_total", component="throttle")
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
        }
    }
    requests_during_outage = 5

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="core.throttling"):
        answers = [sender.get("/api/v1/me").status_code for _ in range(requests_during_outage)]
    elapsed = time.monotonic() - started

    assert answers == [200] * requests_during_outage  # over the rate of 1, but nothing counts
    assert elapsed < 2, elapsed  # the cache client gives up at once; nothing hangs
    assert "Throttling is off: the cache is unreachable" in caplog.text
    down_after = sample(scrape(client), "tally_redis_unavailable_total", component="throttle")
    # The first failure trips the breaker: the next requests do not even try for a while.
    assert down_after == down_before + 1
