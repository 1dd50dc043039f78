"""Traffic settings at startup, secrets at rest, the admin, the Celery task and its schedule."""

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from core.crypto import DecryptionFailed, decrypt_text, encrypt_text
from core.jobs import TRAFFIC_COLLECT_AND_RATE
from core.models import JobRun
from traffic import config
from traffic.models import ExporterSource, TrafficAccount, TrafficQuotaState
from traffic.tests.factories import ExporterSourceFactory, traffic_account

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("[{", "EXPORTER_SOURCES_JSON is not valid JSON"),
        ('{"source_id": "a"}', "must be a non-empty JSON array"),
        ("[]", "must be a non-empty JSON array"),
        ('["a"]', "source #1 must be a JSON object"),
        ('[{"base_url": "https://x.example"}]', "source #1 has no source_id"),
        ('[{"source_id": "a"}]', "source 'a': base_url is required"),
        ('[{"source_id": "a", "base_url": "ftp://x.example"}]', "must be an http(s) URL"),
        (
            '[{"source_id": "a", "base_url": "https://x"}, {"source_id": "a", "base_url": "https://y"}]',
            "twice",
        ),
        ('[{"source_id": "a", "base_url": "https://x", "enabled": "yes"}]', "enabled must be true or false"),
        ('[{"source_id": "a", "base_url": "https://x", "timeout_seconds": -1}]', "timeout_seconds"),
        ('[{"source_id": "a b", "base_url": "https://x"}]', "source_id may hold"),
    ],
)
def test_malformed_exporter_sources_name_the_problem(raw, problem):
    with pytest.raises(ImproperlyConfigured, match=problem.replace("(", r"\(").replace(")", r"\)")):
        config.parse_sources(raw, "")


def test_sources_from_json_or_the_base_url():
    (only,) = config.parse_sources(
        '[{"source_id": "jp", "base_url": "https://jp.example/", "expected_node_id": "jp-1", '
        '"expected_env": "prod", "enabled": false, "timeout_seconds": 0}]',
        "https://ignored.example",
    )
    assert only == config.SourceConfig(
        source_id="jp",
        base_url="https://jp.example",
        expected_node_id="jp-1",
        expected_env="prod",
        enabled=False,
        timeout_seconds=15,
    )
    assert config.parse_sources("", "https://exporter.example/") == [
        config.SourceConfig(source_id="default", base_url="https://exporter.example")
    ]
    assert config.parse_sources("", "") == []


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("PRICE_PER_BYTE", "cheap", "PRICE_PER_BYTE must be a decimal"),
        ("PRICE_PER_BYTE", "-1", "must not be negative"),
        ("PRICE_PER_BYTE", "0.0000000000000001", "at most 15 decimal places"),
        ("INITIAL_BALANCE", "1.0000001", "at most 6 decimal places"),
        ("INITIAL_INCLUDED_QUOTA_BYTES", "1.5", "INITIAL_INCLUDED_QUOTA_BYTES must be a whole number"),
        ("COLLECT_INTERVAL", "0", "COLLECT_INTERVAL must be at least 1"),
    ],
)
def test_other_traffic_settings_are_checked(settings, name, value, problem):
    setattr(settings, name, value)
    with pytest.raises(ImproperlyConfigured, match=problem):
        config.validate_settings()


def test_amount_settings_are_decimals_never_floats(settings):
    settings.PRICE_PER_BYTE = "0.000000001"
    settings.INITIAL_BALANCE = "25.5"
    assert config.price_per_byte() == Decimal("0.000000001")
    assert config.initial_balance() == Decimal("25.5")
    settings.PRICE_PER_BYTE = 0.5
    with pytest.raises(ImproperlyConfigured):
        config.price_per_byte()


def test_a_malformed_source_list_stops_startup_naming_it():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "EXPORTER_SOURCES_JSON": '[{"x": 1}]',
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: EXPORTER_SOURCES_JSON source #1 has no source_id." in result.stderr


def test_secrets_round_trip_and_keys_rotate(settings):
    settings.TALLY_ENCRYPTION_KEY = ""
    from_secret_key = encrypt_text("token-1")
    assert from_secret_key != "token-1" and decrypt_text(from_secret_key) == "token-1"

    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.TALLY_ENCRYPTION_KEY = first
    with_first = encrypt_text("token-2")
    assert decrypt_text(from_secret_key) == "token-1"  # written before the key was set
    settings.TALLY_ENCRYPTION_KEY = f"{second},{first}"
    assert decrypt_text(with_first) == "token-2"
    settings.TALLY_ENCRYPTION_KEY = second
    with pytest.raises(DecryptionFailed):
        decrypt_text(with_first)
    settings.TALLY_ENCRYPTION_KEY = "not-a-fernet-key"
    with pytest.raises(ImproperlyConfigured, match="TALLY_ENCRYPTION_KEY"):
        encrypt_text("x")


@pytest.mark.django_db
def test_admin_stores_a_source_token_encrypted_and_never_shows_it(client, staff_user):
    client.force_login(staff_user)
    response = client.post(
        "/admin/traffic/exportersource/add/",
        {
            "source_id": "jp-1",
            "base_url": "https://jp-1.example.com/",
            "expected_node_id": "jp-1.example.com",
            "expected_env": "prod",
            "enabled": "on",
            "timeout_seconds": "10",
            "region": "jp",
            "line": "",
            "token": "exporter-secret-token",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    source = ExporterSource.objects.get(source_id="jp-1")
    assert source.base_url == "https://jp-1.example.com"
    assert source.token_encrypted and "exporter-secret-token" not in source.token_encrypted
    assert decrypt_text(source.token_encrypted) == "exporter-secret-token"
    page = client.get(f"/admin/traffic/exportersource/{source.pk}/change/").content.decode()
    assert "exporter-secret-token" not in page and source.token_encrypted not in page

    client.post(
        f"/admin/traffic/exportersource/{source.pk}/change/",
        {
            "source_id": "jp-1",
            "base_url": "https://jp-1.example.com",
            "timeout_seconds": "10",
            "clear_token": "on",
        },
    )
    source.refresh_from_db()
    assert source.token_encrypted == "" and source.enabled is False


@pytest.mark.django_db
def test_admin_creates_an_account_mapping_through_the_service(client, staff_user, team):
    from traffic import hooks

    created = []
    callback = hooks.on_traffic_account_created(lambda **kwargs: created.append(kwargs))
    account_uuid = str(uuid.uuid4())
    client.force_login(staff_user)
    try:
        response = client.post(
            "/admin/traffic/trafficaccount/add/",
            {
                "account_uuid": account_uuid,
                "email": "ann@example.com",
                "attribution_id": team.attribution_id.upper().replace("TEAM:", "team:"),
                "package_name": "starter",
                "included_quota_bytes": "5000",
                "price_per_byte": "",
                "region_multiplier": "1.5",
                "line_multiplier": "0",
                "pricing_rule_version": "",
                "quota_state-TOTAL_FORMS": "0",
                "quota_state-INITIAL_FORMS": "0",
            },
        )
    finally:
        hooks._traffic_account_created.remove(callback)
    assert response.status_code == 302, response.content.decode()[:3000]
    account = TrafficAccount.objects.get(account_uuid=account_uuid)
    assert account.attribution_id == team.attribution_id
    assert TrafficQuotaState.objects.get(account=account).remaining_included_bytes == 5000
    assert created == [
        {"attribution_id": team.attribution_id, "account_uuid": account_uuid, "initial_balance": Decimal(0)}
    ]
    for path in (
        "/admin/traffic/trafficaccount/",
        f"/admin/traffic/trafficaccount/{account.pk}/change/",
        "/admin/traffic/trafficminute/",
        "/admin/traffic/trafficsourcestate/",
        "/admin/traffic/trafficcounterstate/",
        "/admin/traffic/exportersource/",
    ):
        assert client.get(path).status_code == 200, path


@pytest.mark.django_db
def test_admin_quota_reset_starts_a_new_period(client, staff_user):
    account = traffic_account(included_quota_bytes=700)
    TrafficQuotaState.objects.filter(account=account).update(remaining_included_bytes=3)
    client.force_login(staff_user)
    client.post("/admin/traffic/trafficaccount/", {"action": "reset_quota", "_selected_action": [account.pk]})
    assert TrafficQuotaState.objects.get(account=account).remaining_included_bytes == 700


@pytest.mark.django_db
def test_the_task_runs_under_its_lock_and_records_errors_without_raising(redis):
    from traffic.tasks import collect_and_rate

    result = collect_and_rate.delay().get()
    assert result["status"] == "error"
    run = JobRun.objects.get(job=TRAFFIC_COLLECT_AND_RATE)
    assert run.outcome == "error"
    assert run.result["error"] == "no enabled exporter sources configured"
    assert run.result["source_statuses"] == []


@pytest.mark.django_db
def test_the_task_with_a_source(redis, settings):
    from devtools.exporter import ExporterServer, FakeExporter, TrafficGenerator, make_accounts
    from traffic.tasks import collect_and_rate

    generator = TrafficGenerator(node_id="node-a", accounts=make_accounts(2))
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    generator.advance(start=now - timedelta(minutes=3), until=now, interval=timedelta(seconds=30))
    with ExporterServer(FakeExporter(generator, token=settings.INTERNAL_SERVICE_TOKEN)) as server:
        ExporterSourceFactory(source_id="node-a", base_url=server.url)
        result = collect_and_rate.delay().get()
    assert result["status"] == "ok" and result["processed_samples"] > 0


@pytest.mark.django_db
def test_the_beat_schedule_follows_collect_interval(settings):
    import importlib

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    migration = importlib.import_module("usage.migrations.0010_schedule_collect_and_rate")
    migration.forwards(apps, None)
    task = PeriodicTask.objects.get(name="usage.collect_and_rate")
    assert (task.task, task.interval.every, task.interval.period) == ("usage.collect_and_rate", 1, "minutes")

    migration.backwards(apps, None)
    settings.COLLECT_INTERVAL = "30"
    migration.forwards(apps, None)
    task = PeriodicTask.objects.get(name="usage.collect_and_rate")
    assert (task.interval.every, task.interval.period) == (30, "seconds")
