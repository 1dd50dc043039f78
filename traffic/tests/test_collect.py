"""collect-and-rate against the fake exporter over real HTTP on 127.0.0.1, on real PostgreSQL.

Times are passed in (`now`), so a test walks through minutes without waiting for them.
"""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum

from devtools.exporter import FakeAccount, make_accounts
from traffic.models import (
    TrafficAccount,
    TrafficCounterState,
    TrafficMinute,
    TrafficQuotaState,
    TrafficSourceState,
)
from traffic.services import CollectFailed, traffic_collect_and_rate
from traffic.tests.factories import ExporterNode, traffic_account
from usage.models import UsageEntry

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 6, 10, tzinfo=UTC)  # window until 12:05:00
MINUTE = timedelta(minutes=1)


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 23, hour, minute, second, tzinfo=UTC)


def collect(now: datetime) -> dict:
    try:
        return traffic_collect_and_rate(now=now)
    except CollectFailed as exc:
        return exc.result


def billed_bytes(account_uuid: str | None = None) -> int:
    facts = TrafficMinute.objects.all()
    if account_uuid:
        facts = facts.filter(account_uuid=account_uuid)
    return facts.aggregate(total=Sum("total_bytes"))["total"] or 0


def charged_credits() -> Decimal:
    return UsageEntry.objects.filter(kind="traffic").aggregate(total=Sum("credits"))["total"] or Decimal(0)


@pytest.fixture
def nodes():
    started = []

    def start(node_id: str, accounts, **options) -> ExporterNode:
        node = ExporterNode(
            node_id=node_id, accounts=accounts, token=settings.INTERNAL_SERVICE_TOKEN, **options
        )
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


@pytest.fixture
def ann():
    return FakeAccount(uuid=str(uuid.uuid4()), email="ann@example.com")


def test_worked_example_quota_first_then_price_times_multiplier_then_a_replay(nodes, ann, settings):
    settings.INITIAL_INCLUDED_QUOTA_BYTES = 100
    settings.PRICE_PER_BYTE = "0.5"
    traffic_account(
        account_uuid=ann.uuid, attribution_id=f"user:{ann.uuid}", region_multiplier=Decimal("2.4")
    )
    node = nodes("node-a", [ann])
    node.generator.snapshot(NOW - timedelta(seconds=100), traffic={ann.uuid: (100, 50)})  # 12:04:30

    result = collect(NOW)

    assert result["status"] == "ok", result
    assert (result["processed_samples"], result["written_minutes"], result["replayed_minutes"]) == (1, 1, 0)
    fact = TrafficMinute.objects.get()
    assert fact.minute == datetime(2026, 11, 23, 12, 4, tzinfo=UTC)
    assert (fact.uplink_bytes, fact.downlink_bytes, fact.total_bytes) == (100, 50, 150)
    assert (fact.included_bytes, fact.chargeable_bytes) == (100, 50)
    assert fact.credits == Decimal("60.000000")
    entry = UsageEntry.objects.get(kind="traffic")
    assert entry.credits == Decimal("60.000000")
    assert entry.object_id == f"traffic:{ann.uuid}:prod:node-a:2026-11-23T12:04:00Z:default:"
    assert entry.effective_time == fact.minute and entry.draft is False
    assert entry.attribution_id == f"user:{ann.uuid}"
    assert TrafficQuotaState.objects.get().remaining_included_bytes == 0

    # The same snapshot pulled again (the next run's window overlaps by 2 minutes).
    again = collect(NOW + MINUTE)

    assert again["status"] == "ok"
    assert (again["processed_samples"], again["written_minutes"], again["replayed_minutes"]) == (0, 0, 1)
    assert TrafficMinute.objects.count() == 1 and UsageEntry.objects.filter(kind="traffic").count() == 1
    assert charged_credits() == Decimal("60.000000")
    assert TrafficQuotaState.objects.get().total_bytes == 150


def test_worked_example_counter_reset_charges_the_new_totals_never_a_negative_delta(nodes, ann, settings):
    settings.PRICE_PER_BYTE = "1"
    node = nodes("node-a", [ann])
    node.generator.snapshot(NOW - timedelta(seconds=160), traffic={ann.uuid: (1000, 0)})  # 12:03:30
    node.generator.restart()
    node.generator.snapshot(NOW - timedelta(seconds=100), traffic={ann.uuid: (400, 0)})  # 12:04:30

    result = collect(NOW)

    assert result["status"] == "ok" and result["counter_resets"] == 1
    minutes = list(TrafficMinute.objects.order_by("minute").values_list("minute", "total_bytes"))
    assert [b for _, b in minutes] == [1000, 400]
    assert charged_credits() == Decimal("1400.000000")
    state = TrafficCounterState.objects.get()
    assert (state.last_uplink_total, state.reset_count) == (400, 1)
    assert not TrafficMinute.objects.filter(total_bytes__lt=0).exists()


def test_worked_example_a_timeout_on_one_source_is_partial_and_the_next_run_catches_up(nodes):
    accounts_a, accounts_b = make_accounts(3, seed=1), make_accounts(3, seed=2)
    a = nodes("node-a", accounts_a, seed=1, timeout_seconds=1)
    b = nodes("node-b", accounts_b, seed=2)
    for node in (a, b):  # snapshots at :00 and :30
        node.generator.advance(start=at(12, 3), until=NOW, interval=timedelta(seconds=30))
    first = collect(NOW)
    assert first["status"] == "ok"

    for node in (a, b):
        node.generator.advance(until=NOW + 2 * MINUTE, interval=timedelta(seconds=30))
    a.exporter.inject("timeout", delay=2.5)
    second = collect(NOW + MINUTE)

    assert second["status"] == "partial"
    assert "timed out" in second["error"]
    state_a = TrafficSourceState.objects.get(source_id="node-a")
    state_b = TrafficSourceState.objects.get(source_id="node-b")
    assert state_a.last_completed_until == datetime(2026, 11, 23, 12, 5, tzinfo=UTC)  # did not move
    assert "timed out" in state_a.last_error
    assert state_b.last_completed_until == datetime(2026, 11, 23, 12, 6, tzinfo=UTC)  # moved
    assert state_b.last_error == ""
    by_source = {s["source_id"]: s for s in second["source_statuses"]}
    assert by_source["node-a"]["last_error"] and not by_source["node-b"]["last_error"]

    third = collect(NOW + 2 * MINUTE)  # until 12:07

    assert third["status"] == "ok"
    until = datetime(2026, 11, 23, 12, 7, tzinfo=UTC)
    for node, accounts in ((a, accounts_a), (b, accounts_b)):
        for account in accounts:
            assert billed_bytes(account.uuid) == node.generator.billable_bytes(
                through=until, account_uuid=account.uuid
            )
    assert TrafficSourceState.objects.get(source_id="node-a").last_completed_until == until


def test_a_source_that_never_answered_catches_up_from_its_cumulative_totals(nodes):
    accounts = make_accounts(4, seed=3)
    node = nodes("node-a", accounts, seed=3)
    node.generator.advance(start=NOW - timedelta(minutes=30), until=NOW + 5 * MINUTE, interval=MINUTE)
    node.exporter.inject("error", status=500, times=3)
    for step in range(3):
        result = collect(NOW + step * MINUTE)
        assert result["status"] == "error" and "HTTP 500" in result["error"]
    assert not TrafficMinute.objects.exists()
    assert TrafficSourceState.objects.get().last_completed_until is None

    result = collect(NOW + 3 * MINUTE)  # until 12:08

    assert result["status"] == "ok"
    assert billed_bytes() == node.generator.billable_bytes(through=datetime(2026, 11, 23, 12, 8, tzinfo=UTC))


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("error", "answered HTTP 500"),
        ("drop", "ConnectionError"),
        ("bad_json", "did not answer JSON"),
        ("no_cursor", "next_cursor missing while has_more=true"),
        ("wrong_node", "expected node_id 'node-a'"),
        ("wrong_env", "expected env 'prod'"),
    ],
)
def test_a_failing_source_keeps_its_checkpoint_and_records_why(nodes, fault, message):
    accounts = make_accounts(2, seed=4)
    node = nodes("node-a", accounts, seed=4, expected_node_id="node-a", expected_env="prod")
    node.generator.advance(start=at(12, 2), until=NOW, interval=MINUTE)
    assert collect(NOW)["status"] == "ok"
    billed = billed_bytes()
    node.generator.advance(until=NOW + MINUTE, interval=MINUTE)
    node.exporter.inject(fault)

    result = collect(NOW + MINUTE)

    assert result["status"] == "error"
    assert message in result["error"]
    state = TrafficSourceState.objects.get()
    assert state.last_completed_until == datetime(2026, 11, 23, 12, 5, tzinfo=UTC)
    assert message in state.last_error
    assert billed_bytes() == billed  # a rejected page is not applied

    assert collect(NOW + MINUTE)["status"] == "ok"
    assert billed_bytes() == node.generator.billable_bytes(through=datetime(2026, 11, 23, 12, 6, tzinfo=UTC))
    assert TrafficSourceState.objects.get().last_error == ""


def test_a_source_that_pins_no_node_keeps_the_node_it_reported_first(nodes):
    accounts = make_accounts(2, seed=12)
    node = nodes("node-a", accounts, seed=12)  # no expected node id or env
    node.generator.advance(start=at(12, 2), until=NOW + MINUTE, interval=MINUTE)
    assert collect(NOW)["status"] == "ok"
    state = TrafficSourceState.objects.get()
    assert (state.node_id, state.env) == ("node-a", "prod")
    node.exporter.inject("wrong_node")  # otherwise a new node, and its totals first-sight traffic

    result = collect(NOW + MINUTE)

    assert result["status"] == "error" and "expected node_id 'node-a'" in result["error"]
    assert not TrafficMinute.objects.exclude(node_id="prod:node-a").exists()
    assert collect(NOW + MINUTE)["status"] == "ok"
    assert billed_bytes() == node.generator.billable_bytes(through=at(12, 6))


def test_the_checkpoint_never_passes_the_newest_snapshot_and_an_empty_window_moves_nothing(nodes):
    node = nodes("node-a", make_accounts(1, seed=13), seed=13)
    node.generator.advance(start=at(12, 3), until=NOW, interval=MINUTE)  # the last one at 12:06
    assert collect(NOW)["status"] == "ok"
    assert TrafficSourceState.objects.get().last_completed_until == at(12, 5)

    assert collect(NOW + 5 * MINUTE)["status"] == "ok"  # the exporter stopped publishing at 12:06
    assert TrafficSourceState.objects.get().last_completed_until == at(12, 6)

    node.exporter.page = lambda query: {
        "node_id": "node-a",
        "env": "prod",
        "snapshots": [],
        "has_more": False,
    }
    assert collect(NOW + 6 * MINUTE)["status"] == "ok"
    assert TrafficSourceState.objects.get().last_completed_until == at(12, 6)

    node.exporter.page = lambda query: {"node_id": "node-a", "env": "prod"}
    assert "has no snapshots array" in collect(NOW + 6 * MINUTE)["error"]


def test_the_wrong_token_is_a_failure_and_a_per_source_token_is_sent_as_bearer(nodes):
    from traffic.services import exporter_source_set_token

    node = nodes("node-a", make_accounts(1, seed=5), seed=5)
    node.generator.advance(start=NOW - timedelta(minutes=2), until=NOW, interval=MINUTE)
    node.exporter.token = "exporter-a-token"
    assert "HTTP 401" in collect(NOW)["error"]

    exporter_source_set_token(source=node.source, token="exporter-a-token")
    node.source.save()
    assert node.source.token_encrypted and "exporter-a-token" not in node.source.token_encrypted
    assert collect(NOW)["status"] == "ok"


def test_pages_of_120_are_followed_by_cursor_and_a_replayed_page_charges_nothing(nodes):
    accounts = make_accounts(3, seed=6)
    node = nodes("node-a", accounts, seed=6)
    node.generator.advance(start=NOW - timedelta(minutes=16), until=NOW, interval=timedelta(seconds=5))
    # Caught up to 11:54:10 before: this window is 11:52:10 .. 12:05:00, 155 snapshots.
    TrafficSourceState.objects.create(source_id="node-a", last_completed_until=NOW - timedelta(minutes=12))
    node.exporter.inject("none")
    node.exporter.inject("replay")  # the second request gets the first page again

    result = collect(NOW)

    assert result["status"] == "ok", result
    served = node.exporter.served
    assert [r.fault for r in served] == ["none", "replay", None]
    assert all(r.params["limit"] == "120" for r in served)
    assert "cursor" not in served[0].params and served[1].params["cursor"] == served[2].params["cursor"]
    assert [r.snapshots for r in served] == [120, 120, 35]
    assert result["replayed_minutes"] > 0
    until = datetime(2026, 11, 23, 12, 5, tzinfo=UTC)
    assert billed_bytes() == node.generator.billable_bytes(through=until)
    assert TrafficMinute.objects.values("minute", "node_id", "account_uuid").distinct().count() == (
        TrafficMinute.objects.count()
    )


def test_a_stale_last_page_does_not_move_the_checkpoint_past_what_it_held(nodes):
    accounts = make_accounts(2, seed=9)
    node = nodes("node-a", accounts, seed=9)
    node.generator.advance(start=NOW - timedelta(minutes=3), until=NOW, interval=MINUTE)
    assert collect(NOW)["status"] == "ok"
    node.generator.advance(until=NOW + 3 * MINUTE, interval=MINUTE)
    node.exporter.inject("replay")  # the answer of the last run again: has_more=false, old snapshots

    stale = collect(NOW + 3 * MINUTE)

    assert stale["status"] == "ok" and stale["processed_samples"] == 0
    # The newest snapshot it held was 12:04:10: the checkpoint stays there, not at until 12:08.
    assert TrafficSourceState.objects.get().last_completed_until == at(12, 4, 10)
    assert collect(NOW + 3 * MINUTE)["status"] == "ok"
    assert billed_bytes() == node.generator.billable_bytes(through=datetime(2026, 11, 23, 12, 8, tzinfo=UTC))


def test_snapshots_every_15_seconds_make_one_minute_fact_per_minute(nodes):
    accounts = make_accounts(3, seed=7)
    node = nodes("node-a", accounts, seed=7, idle_share=0.0)
    node.generator.advance(
        start=NOW - timedelta(minutes=4), until=NOW + 2 * MINUTE, interval=timedelta(seconds=15)
    )
    for step in range(3):
        assert collect(NOW + step * MINUTE)["status"] == "ok"
    until = datetime(2026, 11, 23, 12, 7, tzinfo=UTC)
    assert billed_bytes() == node.generator.billable_bytes(through=until)
    per_account = TrafficMinute.objects.filter(account_uuid=accounts[0].uuid).order_by("minute")
    minutes = list(per_account.values_list("minute", flat=True))
    assert minutes == sorted(set(minutes))
    assert minutes[-1] == datetime(2026, 11, 23, 12, 6, tzinfo=UTC)


def test_inbound_tags_are_summed_and_two_nodes_share_one_quota(nodes, settings):
    settings.INITIAL_INCLUDED_QUOTA_BYTES = 1000
    settings.PRICE_PER_BYTE = "0.001"
    ann = FakeAccount(uuid=str(uuid.uuid4()), email="ann@example.com", inbound_tags=("tcp", "xhttp"))
    a, b = nodes("node-a", [ann]), nodes("node-b", [ann])
    a.generator.snapshot(NOW - timedelta(seconds=100), traffic={ann.uuid: (600, 0)})
    b.generator.snapshot(NOW - timedelta(seconds=100), traffic={ann.uuid: (700, 0)})

    assert collect(NOW)["status"] == "ok"

    facts = {f.node_id: f for f in TrafficMinute.objects.all()}
    assert set(facts) == {"prod:node-a", "prod:node-b"}
    assert facts["prod:node-a"].inbound_tags == "tcp+xhttp"
    assert facts["prod:node-a"].total_bytes == 600
    assert sum(f.included_bytes for f in facts.values()) == 1000
    assert sum(f.chargeable_bytes for f in facts.values()) == 300
    quota = TrafficQuotaState.objects.get()
    assert (quota.remaining_included_bytes, quota.total_bytes, quota.chargeable_bytes) == (0, 1300, 300)
    assert quota.credits == charged_credits() == Decimal("0.300000")
    assert TrafficAccount.objects.count() == 1


def test_invalid_uuids_are_skipped_and_make_the_run_partial(nodes):
    good = FakeAccount(uuid=str(uuid.uuid4()), email="good@example.com")
    bad = FakeAccount(uuid="not-a-uuid", email="bad@example.com")
    node = nodes("node-a", [good, bad])
    node.generator.snapshot(NOW - timedelta(seconds=100), traffic={good.uuid: (10, 0), bad.uuid: (20, 0)})

    result = collect(NOW)

    assert result["status"] == "partial"
    assert result["invalid_samples"] == 1
    assert "not a valid UUID" in result["error"]
    assert billed_bytes() == 10
    assert TrafficSourceState.objects.get().last_completed_until == at(12, 4, 30)  # the newest snapshot


def test_an_unknown_account_is_created_as_a_user_once_and_the_hook_runs_in_its_transaction(nodes, ann):
    from traffic import hooks

    calls = []

    def record(*, attribution_id, account_uuid, initial_balance):
        calls.append((attribution_id, account_uuid, connection.in_atomic_block))

    hooks.on_traffic_account_created(record)
    try:
        node = nodes("node-a", [ann])
        node.generator.advance(start=NOW - timedelta(minutes=2), until=NOW, interval=MINUTE)
        collect(NOW)
        node.generator.advance(until=NOW + MINUTE, interval=MINUTE)
        collect(NOW + MINUTE)
    finally:
        hooks._traffic_account_created.remove(record)

    account = TrafficAccount.objects.get()
    assert account.attribution_id == f"user:{ann.uuid}" and account.email == "ann@example.com"
    assert calls == [(f"user:{ann.uuid}", ann.uuid, True)]


def test_a_mapped_account_bills_its_team_with_its_profile(nodes, ann, team, settings):
    settings.PRICE_PER_BYTE = "1"
    traffic_account(
        account_uuid=ann.uuid,
        attribution_id=team.attribution_id,
        included_quota_bytes=5,
        price_per_byte=Decimal("0.1"),
        line_multiplier=Decimal("3"),
        pricing_rule_version="team-plan-2",
    )
    node = nodes("node-a", [ann])
    node.generator.snapshot(NOW - timedelta(seconds=100), traffic={ann.uuid: (10, 5)})

    collect(NOW)

    entry = UsageEntry.objects.get(kind="traffic")
    assert entry.attribution_id == team.attribution_id
    assert entry.credits == Decimal("3.000000")  # (15 - 5) x 0.1 x 3
    assert entry.metadata["pricing_rule_version"] == "team-plan-2"


def test_an_https_source_is_verified(tmp_path, monkeypatch, ann):
    """TLS verification is always on: a self-signed exporter fails until its CA is trusted."""
    import ssl

    from devtools.exporter import ExporterServer, FakeExporter, TrafficGenerator
    from traffic.tests.factories import ExporterSourceFactory

    cert, key = _self_signed(tmp_path)
    generator = TrafficGenerator(node_id="node-tls", accounts=[ann])
    generator.snapshot(NOW - timedelta(seconds=100), traffic={ann.uuid: (10, 0)})
    server = ExporterServer(FakeExporter(generator, token=settings.INTERNAL_SERVICE_TOKEN))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
    server.start()
    try:
        ExporterSourceFactory(source_id="node-tls", base_url=server.url.replace("http://", "https://"))
        result = collect(NOW)
        assert result["status"] == "error"
        assert "TLS verification failed" in result["error"]
        assert billed_bytes() == 0

        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # trust this CA; verification stays on
        assert collect(NOW)["status"] == "ok"
        assert billed_bytes() == 10
    finally:
        server.stop()


def _self_signed(directory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    import ipaddress

    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Valid whatever the clock: OpenSSL checks it at the real time, not a test's shifted one.
        .not_valid_before(datetime(2000, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_no_enabled_source_is_an_error():
    result = collect(NOW)
    assert result["status"] == "error"
    assert result["error"] == "no enabled exporter sources configured"


def test_sources_come_from_the_environment_and_follow_it_until_edited(settings):
    from traffic.models import ExporterSource

    settings.EXPORTER_SOURCES_JSON = (
        '[{"source_id": "jp-1", "base_url": "http://127.0.0.1:9/", "expected_node_id": "jp-1.example",'
        ' "expected_env": "prod", "enabled": true, "timeout_seconds": 7}]'
    )
    collect(NOW)
    source = ExporterSource.objects.get()
    assert (source.source_id, source.base_url, source.timeout_seconds) == ("jp-1", "http://127.0.0.1:9", 7)
    assert source.managed_by_settings

    settings.EXPORTER_SOURCES_JSON = settings.EXPORTER_SOURCES_JSON.replace(
        '"timeout_seconds": 7', '"timeout_seconds": 9'
    )
    collect(NOW)
    assert ExporterSource.objects.get().timeout_seconds == 9

    ExporterSource.objects.update(managed_by_settings=False, timeout_seconds=3)
    collect(NOW)
    assert ExporterSource.objects.get().timeout_seconds == 3

    settings.EXPORTER_SOURCES_JSON = ""
    settings.EXPORTER_BASE_URL = "https://exporter.example.com/"
    collect(NOW)
    assert ExporterSource.objects.get(source_id="default").base_url == "https://exporter.example.com"


def test_traffic_minutes_are_facts_the_database_refuses_to_change(nodes, ann):
    node = nodes("node-a", [ann])
    node.generator.snapshot(NOW - timedelta(seconds=100), traffic={ann.uuid: (10, 0)})
    collect(NOW)
    fact = TrafficMinute.objects.get()
    with pytest.raises(ValueError):
        fact.save()
    with pytest.raises(ValueError):
        fact.delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        TrafficMinute.objects.filter(pk=fact.pk).update(total_bytes=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        TrafficMinute.objects.filter(pk=fact.pk).delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        TrafficMinute.objects.create(
            minute=fact.minute,
            node_id=fact.node_id,
            account_uuid=fact.account_uuid,
            region=fact.region,
            line=fact.line,
            attribution_id=fact.attribution_id,
            source_id="x",
            uplink_bytes=1,
            downlink_bytes=0,
            total_bytes=1,
            included_bytes=0,
            chargeable_bytes=1,
            credits=Decimal("1"),
            price_per_byte=Decimal("1"),
            multiplier=Decimal("1"),
            entry_key="x",
        )


def test_the_running_totals_equal_the_sums_over_the_facts(nodes, settings):
    settings.INITIAL_INCLUDED_QUOTA_BYTES = 20_000
    settings.PRICE_PER_BYTE = "0.000001"
    accounts = make_accounts(5, seed=8)
    node = nodes("node-a", accounts, seed=8)
    node.generator.advance(
        start=NOW - timedelta(minutes=3), until=NOW + 3 * MINUTE, interval=timedelta(seconds=20)
    )
    for step in range(4):
        collect(NOW + step * MINUTE)
    for quota in TrafficQuotaState.objects.select_related("account"):
        facts = TrafficMinute.objects.filter(account_uuid=quota.account.account_uuid).aggregate(
            total=Sum("total_bytes"), chargeable=Sum("chargeable_bytes"), credits=Sum("credits")
        )
        assert quota.total_bytes == facts["total"]
        assert quota.chargeable_bytes == facts["chargeable"]
        assert quota.credits == facts["credits"]
        assert quota.remaining_included_bytes == max(20_000 - facts["total"], 0)
