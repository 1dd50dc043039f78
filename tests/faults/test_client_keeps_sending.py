"""The issue's check: faults injected while a client keeps sending; every accepted event stored once.

A producer thread hands tally_client events with unique keys and known values, without pause
for faults. Meanwhile the test kills Redis (a job run skips, ingestion goes on), terminates
the server's PostgreSQL connections until the client has seen requests fail, starts Redis
again (a job runs), and terminates connections once more. At the end the client has delivered
everything, and the database holds exactly the events it took: each once, nothing else, with
minute rollups that add up.
"""

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from django.db.models import Count, Sum

from core.jobs import run_job
from core.models import JobRun
from tally_client import BufferFullError, Client
from tests.faults.conftest import wait_until
from usage.models import MeterEvent, MeterRollup

MINUTES = 5  # events spread over five minute rollups


def value_of(n: int) -> int:
    return n % 7 + 1


class Producer(threading.Thread):
    """Hands the client events e0, e1, … until stopped; `taken` counts those the client took."""

    def __init__(self, client: Client, who: str):
        super().__init__(daemon=True)
        self.client, self.who = client, who
        self.start_minute = (datetime.now(UTC) - timedelta(minutes=MINUTES + 2)).replace(
            second=0, microsecond=0
        )
        self.taken = 0
        self.refused = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            n = self.taken
            try:
                self.client.add_amounts(
                    unique_key=f"e{n}",
                    attribution_id=self.who,
                    timestamp=self.start_minute + timedelta(minutes=n % MINUTES, seconds=n % 60),
                    amounts={"samples": value_of(n)},
                )
            except BufferFullError:
                self.refused += 1  # not taken: offered again below, as a real producer would
                time.sleep(0.01)
                continue
            self.taken += 1
            if n % 20 == 19:
                time.sleep(0.01)  # about 2,000 events a second


def delivered(client: Client) -> float:
    return client.registry.get_sample_value("tally_client_events_total", {"status": "success"}) or 0


def failed_requests(client: Client) -> float:
    return (
        client.registry.get_sample_value(
            "tally_client_request_duration_seconds_count", {"outcome": "server_error"}
        )
        or 0
    )


def test_every_event_the_client_took_is_stored_exactly_once_through_redis_and_postgres_faults(
    live_server, app_on_throwaway_redis, reference_data, backend_killer, settings
):
    redis_server = app_on_throwaway_redis
    who = f"team:{uuid.uuid4()}"
    client = Client(
        base_url=live_server.url,
        token=settings.INTERNAL_SERVICE_TOKEN,
        batch_size=100,
        flush_interval=0.05,
        retry_delay=0.05,
        max_retry_delay=0.5,
        timeout=10,
    )
    producer = Producer(client, who)
    producer.start()

    def progress(after: float):
        wait_until(lambda: delivered(client) >= after + 200, timeout=20, what="the client to deliver more")

    def cut_requests_off(count: int):
        """Terminate the server's connections until `count` more requests failed mid-flight."""
        target = failed_requests(client) + count

        def cut() -> bool:
            backend_killer.terminate_others()
            return failed_requests(client) >= target

        wait_until(cut, timeout=30, interval=0.03, what=f"{count} requests cut off by PostgreSQL")

    progress(0)
    redis_server.kill()
    assert run_job("faults.probe", lambda: {}).result["lock_unavailable"] is True
    progress(delivered(client))
    cut_requests_off(3)
    progress(delivered(client))
    redis_server.start()
    assert run_job("faults.probe", lambda: {}).outcome == JobRun.Outcome.OK
    cut_requests_off(2)
    progress(delivered(client))

    producer.stop.set()
    producer.join(10)
    undelivered = client.close(timeout=30)

    taken = producer.taken
    assert undelivered == 0
    assert delivered(client) == taken
    assert client.registry.get_sample_value("tally_client_events_total", {"status": "rejected"}) == 0
    facts = MeterEvent.objects.filter(attribution_id=who)
    assert facts.aggregate(n=Count("id"), total=Sum("amount")) == {
        "n": taken,
        "total": sum(value_of(n) for n in range(taken)),
    }
    assert set(facts.values_list("key", flat=True)) == {f"e{n}:samples" for n in range(taken)}
    rollups = MeterRollup.objects.filter(attribution_id=who)
    assert rollups.count() == MINUTES
    assert rollups.aggregate(n=Sum("event_count"), total=Sum("total")) == {
        "n": taken,
        "total": sum(value_of(n) for n in range(taken)),
    }
    for rollup in rollups:
        in_minute = facts.filter(
            occurred_at__gte=rollup.minute, occurred_at__lt=rollup.minute + timedelta(minutes=1)
        )
        assert rollup.total == in_minute.aggregate(total=Sum("amount"))["total"]
    assert backend_killer.terminated >= 5
    assert taken > 1000, "the client kept sending throughout"
