"""add_amounts and Client() refuse bad input at once, before anything is buffered or counted."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from helpers import AMOUNTS, TEAM, events, now

from tally_client import Client
from tally_client.metrics import STATUSES

NAIVE = datetime(2024, 5, 1, 12, 0, 0)  # naive on purpose


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"unique_key": ""}, ValueError),
        ({"unique_key": "   "}, ValueError),
        ({"unique_key": None}, TypeError),
        ({"unique_key": 42}, TypeError),
        ({"timestamp": NAIVE}, ValueError),
        ({"timestamp": date(2024, 5, 1)}, TypeError),
        ({"timestamp": "2024-05-01T12:00:00Z"}, TypeError),
        ({"amounts": {}}, ValueError),
        ({"amounts": {"container-seconds": 1.5}}, TypeError),
        ({"amounts": {"container-seconds": 2.0}}, TypeError),
        ({"amounts": {"container-seconds": True}}, TypeError),
        ({"amounts": {"container-seconds": Decimal(3)}}, TypeError),
        ({"amounts": {"container-seconds": "3"}}, TypeError),
        ({"amounts": {"container-seconds": -1}}, ValueError),
        ({"amounts": {"": 1}}, ValueError),
        ({"amounts": {1: 1}}, TypeError),
        ({"amounts": [("container-seconds", 1)]}, TypeError),
        ({"attribution_id": "org:" + str(uuid.uuid4())}, ValueError),
        ({"attribution_id": "team:not-a-uuid"}, ValueError),
        ({"attribution_id": "team"}, ValueError),
        ({"attribution_id": None}, TypeError),
        ({"metadata": {"report": object()}}, TypeError),
        ({"metadata": {"ratio": float("nan")}}, ValueError),
        ({"metadata": ["a"]}, TypeError),
        ({"metadata": {1: "a"}}, TypeError),
        ({"instance_id": 1234}, TypeError),
    ],
)
def test_bad_input_raises_and_is_not_buffered(make_client, kwargs, error):
    client = make_client()
    call = {"unique_key": "key-1", "attribution_id": TEAM, "timestamp": now(), "amounts": AMOUNTS}
    call.update(kwargs)
    with pytest.raises(error):
        client.add_amounts(**call)
    assert client.undelivered == 0
    assert all(events(client, status) == 0 for status in STATUSES)


def test_blank_key_naive_time_and_float_amount_are_refused(make_client):
    client = make_client()
    with pytest.raises(ValueError, match="unique_key"):
        client.add_amounts("", TEAM, now(), AMOUNTS)
    with pytest.raises(ValueError, match="timezone-aware"):
        client.add_amounts("k", TEAM, NAIVE, AMOUNTS)
    with pytest.raises(TypeError, match="must be an int"):
        client.add_amounts("k", TEAM, now(), {"samples": 0.5})
    with pytest.raises(ValueError, match="empty"):
        client.add_amounts("k", TEAM, now(), {})


def test_aware_timestamps_in_any_zone_are_accepted(make_client, ingest_server):
    client = make_client()
    plus_two = timezone(timedelta(hours=2))
    client.add_amounts("k", TEAM, datetime(2024, 5, 1, 14, 0, 0, 250, tzinfo=plus_two), AMOUNTS)
    client.add_amounts("k2", TEAM, datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC), AMOUNTS)
    assert client.close() == 0
    assert ingest_server.stored["k"]["occurred_at"] == "2024-05-01T12:00:00.000250Z"
    assert ingest_server.stored["k2"]["occurred_at"] == "2024-05-01T12:00:00Z"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"base_url": "localhost:8000"}, ValueError),
        ({"token": ""}, ValueError),
        ({"token": "  "}, ValueError),
        ({"batch_size": 0}, ValueError),
        ({"batch_size": 1001}, ValueError),
        ({"batch_size": 10.0}, TypeError),
        ({"max_buffered_events": 0}, ValueError),
        ({"retry_delay": 0}, ValueError),
        ({"flush_interval": -1}, ValueError),
        ({"timeout": 0}, ValueError),
        ({"retry_delay": 1.0, "max_retry_delay": 0.5}, ValueError),
    ],
)
def test_bad_configuration_raises(ingest_server, kwargs, error):
    options = {"base_url": ingest_server.base_url, "token": "t"}
    options.update(kwargs)
    with pytest.raises(error):
        Client(**options)


def test_negative_close_timeout_raises(make_client):
    client = make_client()
    with pytest.raises(ValueError):
        client.close(timeout=-1)
    assert client.close() == 0
