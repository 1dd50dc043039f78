"""Small helpers shared by the client tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from tally_client import Client

TEAM = f"team:{uuid.uuid4()}"
AMOUNTS = {"container-seconds": 10, "samples": 3}


def now() -> datetime:
    return datetime.now(UTC)


def add_events(
    client: Client, count: int, prefix: str = "ev", amounts: dict[str, int] | None = None
) -> list[str]:
    keys = [f"{prefix}-{i}" for i in range(count)]
    for key in keys:
        client.add_amounts(key, TEAM, now(), amounts or AMOUNTS)
    return keys


def events(client: Client, status: str) -> float:
    return client.registry.get_sample_value("tally_client_events_total", {"status": status}) or 0


def amounts(client: Client, status: str, amount_type: str) -> float:
    value = client.registry.get_sample_value(
        "tally_client_amounts_total", {"status": status, "amount_type": amount_type}
    )
    return value or 0


def requests_with(client: Client, outcome: str) -> float:
    value = client.registry.get_sample_value(
        "tally_client_request_duration_seconds_count", {"outcome": outcome}
    )
    return value or 0


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
