"""Eight clients sending overlapping batches of the same keys at once, over real HTTP.

The outside report: clients that split one event log into batches and send them from several
workers (or retry a batch while a slower copy of it is still running) send the same keys in
different orders at the same moment. Every batch must be answered 200 and every key stored
exactly once, with rollups that add up to the facts — no deadlock passed on to the client as a
503 or a 409.
"""

import random
import threading
import uuid
from datetime import UTC, datetime, timedelta

import requests
from django.db.models import Count, Sum

from usage.models import MeterEvent, MeterRollup

CLIENTS = 8
BATCHES_PER_CLIENT = 5
BATCH_SIZE = 500
KEY_POOL = 1_500  # each batch is a third of the pool: every two batches overlap heavily
MINUTES = 3  # facts spread over three minute rollups, so rollup rows are shared too


def amount_of(n: int) -> int:
    return n % 9 + 1


def test_eight_clients_sending_overlapping_batches_of_the_same_keys_all_get_200_and_each_key_counts_once(
    live_server, settings, reference_data
):
    who = f"team:{uuid.uuid4()}"
    first_minute = (datetime.now(UTC) - timedelta(minutes=MINUTES + 2)).replace(second=0, microsecond=0)
    pool = [
        {
            "unique_key": f"evt-{n}",
            "attribution_id": who,
            "occurred_at": (first_minute + timedelta(minutes=n % MINUTES, seconds=n % 60)).isoformat(),
            "amounts": {"samples": amount_of(n)},
        }
        for n in range(KEY_POOL)
    ]
    # Each client sends the whole pool in its own shuffled order (three batches of 500), then
    # two batches of 500 keys sampled again from the pool: a resend of what it sent already.
    batches_of = []
    for client_no in range(CLIENTS):
        draw = random.Random(client_no)  # seeded: a failure can be replayed
        shuffled = draw.sample(pool, KEY_POOL)
        whole_pool = [shuffled[i : i + BATCH_SIZE] for i in range(0, KEY_POOL, BATCH_SIZE)]
        resent = [draw.sample(pool, BATCH_SIZE) for _ in range(BATCHES_PER_CLIENT - len(whole_pool))]
        batches_of.append(whole_pool + resent)
    assert all(len(batches) == BATCHES_PER_CLIENT for batches in batches_of)

    url = f"{live_server.url}/api/v1/events"
    headers = {"Authorization": f"Bearer {settings.INTERNAL_SERVICE_TOKEN}"}
    start_together = threading.Barrier(CLIENTS)
    answers: list[tuple[int, dict]] = []
    answers_lock = threading.Lock()

    def send(batches):
        with requests.Session() as session:
            start_together.wait(timeout=30)
            for batch in batches:
                response = session.post(url, json=batch, headers=headers, timeout=60)
                with answers_lock:
                    answers.append((response.status_code, response.json()))

    clients = [threading.Thread(target=send, args=(batches,)) for batches in batches_of]
    for client in clients:
        client.start()
    for client in clients:
        client.join(120)

    assert len(answers) == CLIENTS * BATCHES_PER_CLIENT
    failed = [(status, body) for status, body in answers if status != 200]
    assert failed == []
    # Each key was accepted by exactly one batch; every other copy of it was a duplicate.
    assert sum(body["accepted"] for _, body in answers) == KEY_POOL
    assert (
        sum(body["accepted"] + body["duplicates"] for _, body in answers)
        == CLIENTS * BATCHES_PER_CLIENT * BATCH_SIZE
    )
    assert all(body["rejected"] == 0 for _, body in answers)

    pool_total = sum(amount_of(n) for n in range(KEY_POOL))
    facts = MeterEvent.objects.filter(attribution_id=who)
    assert facts.aggregate(n=Count("id"), total=Sum("amount")) == {"n": KEY_POOL, "total": pool_total}
    rollups = MeterRollup.objects.filter(attribution_id=who)
    assert rollups.count() == MINUTES
    assert rollups.aggregate(n=Sum("event_count"), total=Sum("total")) == {"n": KEY_POOL, "total": pool_total}
