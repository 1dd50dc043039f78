"""Delivery over real HTTP to the fake ingest server: batching, retries, dedup, close, metrics."""

from __future__ import annotations

import itertools
import threading
import time
import uuid

import pytest
from helpers import TEAM, add_events, amounts, events, now, requests_with, wait_until
from prometheus_client import CollectorRegistry

from tally_client import BufferFullError, ClientClosedError

# Failure modes of the fake ingest server (see conftest.py).
ERROR_500 = "error_500"
STORE_THEN_500 = "store_then_500"
HANG = "hang"
THROTTLE = "throttle"
DROP = "drop"
UNAUTHORIZED = "unauthorized"
FORBIDDEN = "forbidden"
BAD_REQUEST = "bad_request"
TOO_LARGE = "too_large"


def test_events_are_delivered_and_counted_once(make_client, ingest_server):
    client = make_client()
    keys = add_events(client, 10)
    client.add_amounts(
        "with-extras",
        TEAM.upper().replace("TEAM", "team"),
        now(),
        {"node-seconds": 5},
        metadata={"report": "s3://bucket/report-1"},
        instance_id="1234",
    )

    assert ingest_server.wait_for_stored(11)
    assert wait_until(lambda: events(client, "success") == 11)
    assert sorted(ingest_server.stored_keys) == sorted([*keys, "with-extras"])
    assert amounts(client, "success", "container-seconds") == 100
    assert amounts(client, "success", "samples") == 30
    assert amounts(client, "success", "node-seconds") == 5
    for status in ("retrying", "rejected", "buffer_full", "stopping"):
        assert events(client, status) == 0
    assert requests_with(client, "success") >= 1

    extras = ingest_server.stored["with-extras"]
    assert extras["attribution_id"] == TEAM  # normalized to the lower-case canonical uuid
    assert extras["instance_id"] == "1234"
    assert extras["metadata"] == {"report": "s3://bucket/report-1"}
    assert extras["amounts"] == {"node-seconds": 5}
    assert extras["occurred_at"].endswith("Z")
    assert ingest_server.stored["ev-0"]["instance_id"] is None
    assert ingest_server.stored["ev-0"]["metadata"] == {}

    assert client.close() == 0
    assert len(ingest_server.stored_keys) == 11
    assert events(client, "success") == 11


def test_a_full_batch_is_sent_at_once_and_the_rest_on_flush(make_client, ingest_server):
    client = make_client(batch_size=5, flush_interval=30)
    add_events(client, 5, prefix="a")
    assert ingest_server.wait_for_stored(5, timeout=2)
    add_events(client, 3, prefix="b")
    time.sleep(0.2)
    assert len(ingest_server.stored) == 5  # a partial batch waits for the flush interval
    assert client.undelivered == 3
    assert client.close() == 0
    assert len(ingest_server.stored) == 8
    assert [len(r.keys) for r in ingest_server.requests] == [5, 3]


def test_a_partial_batch_goes_out_every_flush_interval(make_client, ingest_server):
    client = make_client(batch_size=500, flush_interval=0.1)
    add_events(client, 3)
    assert ingest_server.wait_for_stored(3, timeout=2)
    assert wait_until(lambda: client.undelivered == 0)
    assert len(ingest_server.requests) == 1


def test_a_backlog_is_sent_in_batches_of_batch_size(make_client, ingest_server):
    client = make_client(batch_size=7, flush_interval=30)
    add_events(client, 50)
    assert client.close() == 0
    assert len(ingest_server.stored) == 50
    assert all(len(r.keys) <= 7 for r in ingest_server.requests)
    assert events(client, "success") == 50


@pytest.mark.parametrize(
    ("mode", "failures", "outcome"),
    [
        (ERROR_500, 3, "server_error"),
        (DROP, 3, "connection_error"),
        (HANG, 2, "timeout"),
        (STORE_THEN_500, 2, "server_error"),
        (THROTTLE, 1, "throttled"),
    ],
)
def test_server_failing_then_recovering_loses_nothing(make_client, ingest_server, mode, failures, outcome):
    ingest_server.hang_seconds = 0.6
    client = make_client(batch_size=20, flush_interval=30, timeout=0.3)
    ingest_server.fail_next(failures, mode)
    keys = add_events(client, 20)

    assert ingest_server.wait_for_stored(20, timeout=10)
    assert wait_until(lambda: events(client, "success") == 20, timeout=5)
    assert sorted(ingest_server.stored) == sorted(keys)
    assert len(ingest_server.stored_keys) == 20  # stored once, however often it was sent
    assert events(client, "retrying") == 20 * failures
    assert amounts(client, "retrying", "container-seconds") == 200 * failures
    assert amounts(client, "success", "container-seconds") == 200
    assert events(client, "rejected") == 0
    assert requests_with(client, outcome) == failures
    # Every attempt carried the same unique keys.
    assert len(ingest_server.requests) == failures + 1
    assert all(r.keys == keys for r in ingest_server.requests)
    assert client.close() == 0


def test_retry_after_is_respected(make_client, ingest_server):
    ingest_server.retry_after = "1"
    client = make_client(batch_size=2, flush_interval=30)
    ingest_server.fail_next(1, THROTTLE)
    add_events(client, 2)
    assert ingest_server.wait_for_stored(2, timeout=5)
    first, second = ingest_server.requests
    assert first.status == 429
    assert second.at - first.at >= 0.95


def test_retries_back_off_exponentially_up_to_the_cap(make_client, ingest_server):
    client = make_client(batch_size=1, flush_interval=30, retry_delay=0.05, max_retry_delay=0.2)
    ingest_server.fail_next(5, ERROR_500)
    add_events(client, 1)
    assert ingest_server.wait_for_stored(1, timeout=5)
    times = [r.at for r in ingest_server.requests]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    expected = [0.05, 0.1, 0.2, 0.2, 0.2]
    assert len(gaps) == len(expected)
    for gap, delay in zip(gaps, expected, strict=True):
        assert delay * 0.9 <= gap <= delay * 1.25 + 0.15


def test_duplicates_across_retries_are_stored_once_and_count_as_success(make_client, ingest_server):
    client = make_client(batch_size=10, flush_interval=30)
    ingest_server.fail_next(2, STORE_THEN_500)
    add_events(client, 10)
    assert ingest_server.wait_for_stored(10)
    assert wait_until(lambda: events(client, "success") == 10)
    statuses = ingest_server.statuses()
    assert statuses.count("accepted") == 10
    assert statuses.count("duplicate") == 20  # the second 500 and the final 200
    assert len(ingest_server.stored_keys) == 10
    assert events(client, "retrying") == 20
    assert client.close() == 0
    assert events(client, "success") == 10


def test_the_same_key_added_twice_is_stored_once(make_client, ingest_server):
    client = make_client(batch_size=500, flush_interval=30)
    client.add_amounts("same", TEAM, now(), {"samples": 1})
    client.add_amounts("same", TEAM, now(), {"samples": 1})
    assert client.close() == 0
    assert ingest_server.stored_keys == ["same"]
    assert ingest_server.statuses() == ["accepted", "duplicate"]
    assert events(client, "success") == 2  # a duplicate means the server has it


def test_buffer_full_raises_and_counts(make_client, ingest_server):
    client = make_client(max_buffered_events=5, batch_size=500, flush_interval=30)
    add_events(client, 5)
    with pytest.raises(BufferFullError):
        client.add_amounts("one-too-many", TEAM, now(), {"samples": 7})
    assert events(client, "buffer_full") == 1
    assert amounts(client, "buffer_full", "samples") == 7
    assert client.undelivered == 5
    assert client.close() == 0
    assert len(ingest_server.stored) == 5
    assert "one-too-many" not in ingest_server.stored


def test_events_being_retried_still_take_buffer_room(make_client, ingest_server):
    ingest_server.fail_next(10_000, ERROR_500)
    client = make_client(max_buffered_events=5, batch_size=5, flush_interval=30)
    add_events(client, 5)
    assert wait_until(lambda: events(client, "retrying") >= 5)
    with pytest.raises(BufferFullError):
        client.add_amounts("one-too-many", TEAM, now(), {"samples": 1})
    assert events(client, "buffer_full") == 1
    assert client.close(timeout=0.3) == 5


def test_add_after_close_raises_and_counts_stopping(make_client):
    client = make_client()
    assert client.close() == 0
    assert client.closed
    with pytest.raises(ClientClosedError):
        client.add_amounts("late", TEAM, now(), {"samples": 4})
    assert events(client, "stopping") == 1
    assert amounts(client, "stopping", "samples") == 4
    assert client.close() == 0  # closing again is harmless


def test_close_flushes_the_buffer(make_client, ingest_server):
    client = make_client(batch_size=500, flush_interval=30)
    add_events(client, 7)
    started = time.monotonic()
    assert client.close(timeout=5) == 0
    assert time.monotonic() - started < 1.5
    assert len(ingest_server.stored) == 7
    assert client.undelivered == 0
    assert events(client, "success") == 7


def test_close_cuts_a_retry_wait_short(make_client, ingest_server):
    client = make_client(batch_size=2, flush_interval=30, retry_delay=5.0, max_retry_delay=10.0)
    ingest_server.fail_next(1, ERROR_500)
    add_events(client, 2)
    assert wait_until(lambda: events(client, "retrying") == 2)
    started = time.monotonic()
    assert client.close(timeout=3) == 0
    assert time.monotonic() - started < 1.0
    assert len(ingest_server.stored) == 2


def test_close_reports_what_it_could_not_deliver(make_client, ingest_server):
    ingest_server.fail_next(10_000, ERROR_500)
    client = make_client(batch_size=3, flush_interval=0.05)
    add_events(client, 4)
    assert wait_until(lambda: events(client, "retrying") >= 3)
    started = time.monotonic()
    assert client.close(timeout=0.5) == 4
    assert time.monotonic() - started < 1.5
    assert client.undelivered == 4
    assert events(client, "stopping") == 4
    assert amounts(client, "stopping", "container-seconds") == 40
    assert events(client, "success") == 0
    assert ingest_server.stored == {}


def test_close_does_not_wait_for_a_hanging_request(make_client, ingest_server):
    ingest_server.hang_seconds = 1.0
    ingest_server.fail_next(1, HANG)
    client = make_client(batch_size=3, flush_interval=30, timeout=5.0)
    add_events(client, 3)
    assert wait_until(lambda: len(ingest_server.requests) == 1)
    started = time.monotonic()
    assert client.close(timeout=0.3) == 3
    assert time.monotonic() - started < 0.8
    assert events(client, "stopping") == 3
    # The server did store them once the request ended, but close() had already given up:
    # the client counts them as stopping, not as success too.
    assert ingest_server.wait_for_stored(3, timeout=3)
    time.sleep(0.1)
    assert events(client, "success") == 0
    assert client.undelivered == 3


def test_rejected_events_are_counted_and_not_retried(make_client, ingest_server):
    client = make_client(batch_size=3, flush_interval=30)
    client.add_amounts("good-1", TEAM, now(), {"samples": 1})
    client.add_amounts("bad", TEAM, now(), {"bogus-seconds": 9})
    client.add_amounts("good-2", TEAM, now(), {"samples": 1})
    assert wait_until(lambda: events(client, "rejected") == 1)
    assert events(client, "success") == 2
    assert amounts(client, "rejected", "bogus-seconds") == 9
    time.sleep(0.2)
    assert len(ingest_server.requests) == 1
    assert sorted(ingest_server.stored) == ["good-1", "good-2"]
    assert client.close() == 0
    assert events(client, "retrying") == 0


@pytest.mark.parametrize("mode", [UNAUTHORIZED, FORBIDDEN, BAD_REQUEST])
def test_a_whole_batch_refused_is_rejected_not_retried(make_client, ingest_server, mode):
    client = make_client(batch_size=3, flush_interval=30)
    ingest_server.fail_next(1, mode)
    add_events(client, 3, prefix="refused")
    assert wait_until(lambda: events(client, "rejected") == 3)
    assert requests_with(client, "rejected") == 1
    time.sleep(0.2)
    assert len(ingest_server.requests) == 1
    assert ingest_server.stored == {}
    # The client keeps working for later events.
    add_events(client, 3, prefix="later")
    assert client.close() == 0
    assert sorted(ingest_server.stored) == ["later-0", "later-1", "later-2"]
    assert events(client, "retrying") == 0


def test_a_bad_token_rejects_without_retrying(make_client, ingest_server):
    client = make_client(token="wrong", batch_size=2, flush_interval=30)
    add_events(client, 2)
    assert client.close() == 0
    assert events(client, "rejected") == 2
    assert len(ingest_server.requests) == 1
    assert ingest_server.requests[0].status == 401


def test_payload_too_large_splits_the_batch(make_client, ingest_server):
    client = make_client(batch_size=8, flush_interval=30)
    ingest_server.fail_next(1, TOO_LARGE)
    keys = add_events(client, 8)
    assert client.close() == 0
    assert sorted(ingest_server.stored) == sorted(keys)
    assert [len(r.keys) for r in ingest_server.requests] == [8, 4, 4]
    assert events(client, "success") == 8
    assert events(client, "rejected") == 0


def test_a_single_event_too_large_is_rejected(make_client, ingest_server):
    client = make_client(batch_size=1, flush_interval=30)
    ingest_server.fail_next(1, TOO_LARGE)
    add_events(client, 1)
    assert client.close() == 0
    assert events(client, "rejected") == 1
    assert len(ingest_server.requests) == 1


def test_concurrent_adds_from_many_threads(make_client, ingest_server):
    client = make_client(batch_size=100, max_buffered_events=5000)
    errors: list[BaseException] = []

    def produce(worker: int) -> None:
        try:
            for i in range(250):
                client.add_amounts(f"w{worker}-{i}", TEAM, now(), {"samples": 2})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=produce, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert client.close(timeout=10) == 0
    assert len(ingest_server.stored) == 2000
    assert len(ingest_server.stored_keys) == 2000
    assert events(client, "success") == 2000
    assert amounts(client, "success", "samples") == 4000


def test_each_client_has_its_own_registry_unless_given_one(make_client):
    first, second = make_client(), make_client()
    assert isinstance(first.registry, CollectorRegistry)
    assert first.registry is not second.registry
    shared = CollectorRegistry()
    third = make_client(registry=shared)
    assert third.registry is shared
    assert shared.get_sample_value("tally_client_events_total", {"status": "success"}) == 0


def test_clients_sharing_a_registry_add_to_the_same_counters(make_client, ingest_server):
    shared = CollectorRegistry()
    first = make_client(registry=shared, flush_interval=30)
    second = make_client(registry=shared, flush_interval=30)
    add_events(first, 2, prefix="first")
    add_events(second, 3, prefix="second")
    assert first.close() == 0
    assert second.close() == 0
    assert shared.get_sample_value("tally_client_events_total", {"status": "success"}) == 5
    assert len(ingest_server.stored) == 5


def test_context_manager_closes_and_flushes(make_client, ingest_server):
    with make_client(batch_size=500, flush_interval=30) as client:
        client.add_amounts(str(uuid.uuid4()), TEAM, now(), {"samples": 1})
    assert client.closed
    assert len(ingest_server.stored) == 1
