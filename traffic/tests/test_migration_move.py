"""The move of the traffic models from usage to traffic keeps every table, row, trigger and
permission: a database at usage 0010 (before the move), with traffic rows in it, migrated
forward reads the same rows through traffic's models and still refuses to change a minute."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("usage", "0010_schedule_collect_and_rate"), ("traffic", None)]
MOVED = ("exportersource", "trafficaccount", "trafficminute")
MINUTE = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ACCOUNT = "7f3c2a1e-5b4d-4c3b-9a2f-1e0d9c8b7a60"


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets or executor.loader.graph.leaf_nodes())
    return executor


@pytest.mark.django_db(transaction=True)
def test_rows_written_before_the_move_are_traffics_afterwards_and_minutes_stay_facts():
    graph = migrate(BEFORE).loader
    others = [node for node in graph.graph.leaf_nodes() if node[0] not in ("usage", "traffic")]
    old = graph.project_state([*others, BEFORE[0]]).apps
    ContentType = old.get_model("contenttypes", "ContentType")
    Permission = old.get_model("auth", "Permission")
    # The content types as a database from before the move has them (migrating back moved
    # them to usage again), with a permission staff hold on one of them.
    ContentType.objects.filter(app_label="traffic").delete()
    types = {m: ContentType.objects.get_or_create(app_label="usage", model=m)[0] for m in MOVED}
    view_minutes, _ = Permission.objects.get_or_create(
        codename="view_trafficminute",
        content_type=types["trafficminute"],
        defaults={"name": "Can view traffic minute"},
    )

    old.get_model("usage", "ExporterSource").objects.create(
        source_id="node-a", base_url="https://node-a.example"
    )
    account = old.get_model("usage", "TrafficAccount").objects.create(
        account_uuid=ACCOUNT, attribution_id=f"user:{ACCOUNT}", email="ann@example.com"
    )
    old.get_model("usage", "TrafficQuotaState").objects.create(
        account=account, remaining_included_bytes=10, period_started_at=MINUTE
    )
    old.get_model("usage", "TrafficMinute").objects.create(
        minute=MINUTE,
        node_id="prod:node-a",
        account_uuid=ACCOUNT,
        region="default",
        line="",
        attribution_id=f"user:{ACCOUNT}",
        source_id="node-a",
        uplink_bytes=30,
        downlink_bytes=70,
        total_bytes=100,
        included_bytes=10,
        chargeable_bytes=90,
        credits=Decimal("0.000090"),
        price_per_byte=Decimal("0.000001"),
        multiplier=Decimal(1),
        entry_key=f"traffic:{ACCOUNT}:prod:node-a:2026-11-23T12:00:00Z:default:",
    )

    migrate(None)

    from django.contrib.auth.models import Permission as CurrentPermission
    from django.contrib.contenttypes.models import ContentType as CurrentContentType

    from traffic.models import ExporterSource, TrafficAccount, TrafficMinute

    assert ExporterSource.objects.get().source_id == "node-a"
    moved = TrafficAccount.objects.select_related("quota_state").get()
    assert str(moved.account_uuid) == ACCOUNT and moved.quota_state.remaining_included_bytes == 10
    minute = TrafficMinute.objects.get()
    assert (minute.total_bytes, minute.chargeable_bytes, minute.credits) == (100, 90, Decimal("0.000090"))
    # The permission staff held on the model points at the same, renamed content type.
    permission = CurrentPermission.objects.get(pk=view_minutes.pk)
    assert permission.content_type == CurrentContentType.objects.get_for_model(TrafficMinute)
    assert not CurrentContentType.objects.filter(app_label="usage", model__in=MOVED).exists()

    # The append-only trigger of usage 0009 still guards the table.
    for statement in (
        "UPDATE usage_trafficminute SET uplink_bytes = 31, total_bytes = 101, chargeable_bytes = 91",
        "DELETE FROM usage_trafficminute",
    ):
        with pytest.raises(DatabaseError, match="fact"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert TrafficMinute.objects.get().total_bytes == 100
