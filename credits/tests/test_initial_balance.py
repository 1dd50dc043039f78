"""INITIAL_BALANCE: a traffic account first seen by collect-and-rate gets a grant of it."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from credits.selectors import ledger_balance
from devtools.exporter import FakeAccount
from traffic.models import TrafficAccount
from traffic.services import traffic_collect_and_rate
from traffic.tests.factories import ExporterNode

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 6, 10, tzinfo=UTC)


def test_a_new_account_gets_its_initial_balance_once(settings):
    settings.INITIAL_BALANCE = "25.5"
    settings.PRICE_PER_BYTE = "0.001"
    ann = FakeAccount(uuid=str(uuid.uuid4()), email="ann@example.com")
    node = ExporterNode(node_id="node-a", accounts=[ann], token=django_settings.INTERNAL_SERVICE_TOKEN)
    try:
        node.generator.snapshot(NOW - timedelta(seconds=100), traffic={ann.uuid: (1000, 0)})
        traffic_collect_and_rate(now=NOW)
        traffic_collect_and_rate(now=NOW + timedelta(minutes=1))  # the account again: no second grant
    finally:
        node.stop()

    account = TrafficAccount.objects.get(account_uuid=ann.uuid)
    balance = ledger_balance(attribution_id=account.attribution_id, at=timezone.now())
    assert [g.grant.amount for g in balance.grants] == [Decimal("25.5")]  # one grant, not one per run
    # 1,000 bytes at 0.001 credits = 1 credit, paid by the grant (granted when first seen).
    assert balance.grants[0].balance == Decimal("24.5")


def test_no_initial_balance_no_grant(settings):
    settings.INITIAL_BALANCE = "0"
    ann = FakeAccount(uuid=str(uuid.uuid4()), email="bo@example.com")
    node = ExporterNode(node_id="node-b", accounts=[ann], token=django_settings.INTERNAL_SERVICE_TOKEN)
    try:
        node.generator.snapshot(NOW - timedelta(seconds=100), traffic={ann.uuid: (10, 0)})
        traffic_collect_and_rate(now=NOW)
    finally:
        node.stop()
    account = TrafficAccount.objects.get(account_uuid=ann.uuid)
    assert ledger_balance(attribution_id=account.attribution_id, at=NOW).grants == []
