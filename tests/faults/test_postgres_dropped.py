"""PostgreSQL drops the server's connections in the middle of a batch.

To cut a batch off at a known point, a second connection holds the row lock of the minute
rollup the batch adds to: the server's ingest transaction has staged the rows and inserted
the events, and waits. The test then terminates the server's backends (only those of this
run's test database), releases the lock, and looks at what the client got and what is stored.
"""

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import requests
from django.db.models import Count, Sum

from tally_client import Client
from tests.faults.conftest import database_url, wait_until
from usage.models import MeterEvent, MeterRollup

SAMPLES_PER_EVENT = 3


def minute_ago() -> datetime:
    return (datetime.now(UTC) - timedelta(minutes=1)).replace(second=30, microsecond=0)


def events(who: str, keys: range, at: datetime) -> list[dict]:
    return [
        {
            "unique_key": f"k{n}",
            "attribution_id": who,
            "occurred_at": at.isoformat(),
            "amounts": {"samples": SAMPLES_PER_EVENT},
        }
        for n in keys
    ]


class RollupBlocker:
    """Holds the row lock of `who`'s rollups on a connection of its own (spared by the killer)."""

    def __init__(self, killer, who: str):
        self.who = who
        self.conn = psycopg.connect(database_url(), connect_timeout=5)
        killer.spare.add(self.conn.info.backend_pid)

    def hold(self) -> int:
        rows = self.conn.execute(
            "SELECT id FROM usage_meterrollup WHERE attribution_id = %s FOR UPDATE", [self.who]
        ).fetchall()
        return len(rows)

    def release(self) -> None:
        self.conn.rollback()

    def close(self) -> None:
        self.conn.close()


def stored(who: str) -> dict:
    facts = MeterEvent.objects.filter(attribution_id=who).aggregate(n=Count("id"), total=Sum("amount"))
    rollups = MeterRollup.objects.filter(attribution_id=who).aggregate(
        n=Sum("event_count"), total=Sum("total")
    )
    return {
        "events": facts["n"],
        "total": facts["total"],
        "rollup_events": rollups["n"],
        "rollup_total": rollups["total"],
    }


def test_a_batch_cut_off_mid_transaction_gets_503_stores_nothing_and_its_retry_stores_each_once(
    live_server, reference_data, backend_killer, settings
):
    who, at = f"team:{uuid.uuid4()}", minute_ago()
    url = f"{live_server.url}/api/v1/events"
    session = requests.Session()  # keep-alive: one server thread, one kept database connection
    session.headers["Authorization"] = f"Bearer {settings.INTERNAL_SERVICE_TOKEN}"
    assert session.post(url, json=events(who, range(0, 10), at), timeout=10).json()["accepted"] == 10

    blocker = RollupBlocker(backend_killer, who)
    assert blocker.hold() == 1
    answers = []
    batch = events(who, range(10, 60), at)
    answered_at = []

    def send_batch():
        answers.append(session.post(url, json=batch, timeout=30))
        answered_at.append(time.monotonic())

    sender = threading.Thread(target=send_batch)
    sender.start()
    waiting = wait_until(
        lambda: backend_killer.others(waiting_on_lock=True),
        timeout=15,
        what="the batch to wait on the rollup",
    )
    assert backend_killer.terminate(waiting) == 1
    terminated_at = time.monotonic()
    sender.join(timeout=30)
    blocker.release()

    (cut_off,) = answers
    assert answered_at[0] - terminated_at < 5  # answered at once, without waiting for the lock
    assert cut_off.status_code == 503
    assert cut_off.headers["Retry-After"] == "1"
    assert cut_off.json() == {
        "error": "unavailable",
        "message": "The database connection failed while handling this request; retry it in a moment.",
    }
    assert stored(who)["events"] == 10  # the events it had inserted went with its transaction

    retried = session.post(url, json=batch, timeout=10).json()
    assert (retried["accepted"], retried["duplicates"]) == (50, 0)

    # Connections the server keeps between requests (CONN_MAX_AGE) dropped while idle: the
    # health check (CONN_HEALTH_CHECKS) replaces them before the next request uses them.
    assert backend_killer.terminate_others() >= 1
    again = session.post(url, json=events(who, range(0, 60), at), timeout=10)
    assert again.status_code == 200, again.text
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 60)

    assert stored(who) == {
        "events": 60,
        "total": 60 * SAMPLES_PER_EVENT,
        "rollup_events": 60,
        "rollup_total": 60 * SAMPLES_PER_EVENT,
    }
    blocker.close()


def counted(client: Client, name: str, **labels) -> float:
    return client.registry.get_sample_value(name, labels) or 0


@pytest.mark.parametrize("rounds", [3])
def test_the_client_keeps_every_event_exactly_once_while_its_batches_are_cut_off(
    live_server, reference_data, backend_killer, settings, rounds
):
    who, at = f"team:{uuid.uuid4()}", minute_ago()
    per_round = 40
    client = Client(
        base_url=live_server.url,
        token=settings.INTERNAL_SERVICE_TOKEN,
        batch_size=per_round,
        flush_interval=0.05,
        retry_delay=0.05,
        timeout=10,
    )
    sent = 0

    def send(count: int) -> None:
        nonlocal sent
        for n in range(sent, sent + count):
            client.add_amounts(
                unique_key=f"k{n}", attribution_id=who, timestamp=at, amounts={"samples": SAMPLES_PER_EVENT}
            )
        sent += count

    send(per_round)  # creates the minute's rollup row
    wait_until(lambda: client.undelivered == 0, timeout=15, what="the first batch")
    blocker = RollupBlocker(backend_killer, who)
    for _ in range(rounds):
        assert blocker.hold() == 1
        send(per_round)
        waiting = wait_until(
            lambda: backend_killer.others(waiting_on_lock=True), timeout=15, what="a batch to wait"
        )
        backend_killer.terminate(waiting)
        backend_killer.terminate_others()  # and whatever the server keeps idle
        blocker.release()
    undelivered = client.close(timeout=30)
    blocker.close()

    assert undelivered == 0
    assert backend_killer.terminated >= rounds
    assert counted(client, "tally_client_request_duration_seconds_count", outcome="server_error") >= rounds
    assert counted(client, "tally_client_events_total", status="success") == sent
    assert counted(client, "tally_client_events_total", status="rejected") == 0
    assert stored(who) == {
        "events": sent,
        "total": sent * SAMPLES_PER_EVENT,
        "rollup_events": sent,
        "rollup_total": sent * SAMPLES_PER_EVENT,
    }
    assert sorted(MeterEvent.objects.filter(attribution_id=who).values_list("key", flat=True)) == sorted(
        f"k{n}:samples" for n in range(sent)
    )
