"""Many runs in a row against exporters with random faults: billed bytes equal the true traffic.

Three fake exporters over real HTTP, accounts spread over them (some on two nodes), snapshots
every 5 to 60 seconds, and before each run random faults: timeouts, HTTP errors, dropped
connections, bad JSON, replayed pages, has_more without a cursor, a wrong node id, exporter
restarts (counter resets). After every run nothing is billed twice or ahead of the traffic;
after a last run without faults, every account's billed bytes equal its true traffic exactly.
"""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db.models import Count, Sum

from devtools.exporter import make_accounts
from traffic.models import TrafficMinute, TrafficQuotaState, TrafficSourceState
from traffic.services import CollectFailed, traffic_collect_and_rate
from traffic.tests.factories import ExporterNode
from usage.models import UsageEntry

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 23, 12, 0, 7, tzinfo=UTC)
FAULTS = ["error", "drop", "bad_json", "replay", "no_cursor", "wrong_node", "timeout"]


def until_of(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0) - timedelta(minutes=1)


def billed_by_node_and_account() -> dict[tuple[str, str], int]:
    rows = TrafficMinute.objects.values("node_id", "account_uuid").annotate(total=Sum("total_bytes"))
    return {(r["node_id"], str(r["account_uuid"])): r["total"] for r in rows}


@pytest.mark.parametrize("seed", [11, 22, 33])
def test_billed_bytes_equal_true_traffic_after_random_faults(seed):
    rng = random.Random(seed)
    shared = make_accounts(3, seed=seed * 7)
    specs = [
        ("node-a", timedelta(seconds=5)),  # windows of more than 120 snapshots: several pages
        ("node-b", timedelta(seconds=20)),
        ("node-c", timedelta(seconds=60)),
    ]
    nodes = []
    try:
        for index, (node_id, interval) in enumerate(specs):
            accounts = make_accounts(4, seed=seed * 100 + index) + shared[: index + 1]
            node = ExporterNode(
                node_id=node_id,
                accounts=accounts,
                token=settings.INTERNAL_SERVICE_TOKEN,
                seed=seed + index,
                expected_node_id=node_id,
                timeout_seconds=1,
            )
            node.interval = interval
            node.generator.advance(start=START - timedelta(minutes=5), until=START, interval=interval)
            nodes.append(node)

        now = START
        timeouts = resets = replayed = 0
        seen_statuses = set()
        for _run in range(30):
            now += timedelta(seconds=rng.randint(20, 200))
            for node in nodes:
                succeeded = TrafficSourceState.objects.filter(
                    source_id=node.source.source_id, last_succeeded_at__isnull=False
                ).exists()
                if succeeded and rng.random() < 0.12:
                    node.generator.restart()
                node.generator.advance(until=now, interval=node.interval)
                for _ in range(rng.choice([0, 0, 0, 1, 2])):
                    fault = rng.choice(FAULTS)
                    if fault == "timeout":
                        if timeouts >= 3:
                            continue
                        timeouts += 1
                        node.exporter.inject("none", times=rng.randint(0, 2))
                        node.exporter.inject("timeout", delay=1.3)
                    else:
                        node.exporter.inject("none", times=rng.randint(0, 2))
                        node.exporter.inject(fault)
            try:
                result = traffic_collect_and_rate(now=now)
            except CollectFailed as exc:
                result = exc.result
            seen_statuses.add(result["status"])
            resets += result["counter_resets"]
            replayed += result["replayed_minutes"]
            for node in nodes:
                node.exporter.faults.clear()
            _check_never_ahead_and_never_twice(nodes, now)

        # A last stretch without faults: every window catches up.
        for _ in range(3):
            now += timedelta(minutes=1)
            for node in nodes:
                node.generator.advance(until=now, interval=node.interval)
            result = traffic_collect_and_rate(now=now)
            assert result["status"] == "ok", result

        assert seen_statuses >= {"ok", "partial"} and resets > 0 and replayed > 0  # the faults did happen
        until = until_of(now)
        billed = billed_by_node_and_account()
        for node in nodes:
            for account in node.generator.accounts:
                true = node.generator.billable_bytes(through=until, account_uuid=account.uuid)
                assert billed.get((f"prod:{node.generator.node_id}", account.uuid), 0) == true
        _check_ledger_matches_facts()
    finally:
        for node in nodes:
            node.stop()


def _check_never_ahead_and_never_twice(nodes, now: datetime) -> None:
    until = until_of(now)
    billed = billed_by_node_and_account()
    for node in nodes:
        for account in node.generator.accounts:
            true = node.generator.billable_bytes(through=until, account_uuid=account.uuid)
            assert billed.get((f"prod:{node.generator.node_id}", account.uuid), 0) <= true
    duplicated = (
        TrafficMinute.objects.values("minute", "node_id", "account_uuid", "region", "line")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not duplicated.exists()


def _check_ledger_matches_facts() -> None:
    facts = TrafficMinute.objects.aggregate(
        n=Count("id"), credits=Sum("credits"), chargeable=Sum("chargeable_bytes")
    )
    entries = UsageEntry.objects.filter(kind="traffic").aggregate(n=Count("id"), credits=Sum("credits"))
    quotas = TrafficQuotaState.objects.aggregate(credits=Sum("credits"), chargeable=Sum("chargeable_bytes"))
    assert facts["n"] == entries["n"]
    assert facts["credits"] == entries["credits"] == quotas["credits"]
    assert facts["chargeable"] == quotas["chargeable"]
