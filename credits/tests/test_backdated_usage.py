"""Usage that arrives late (allowed up to 35 days back) is never lost by a balance snapshot."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from credits.models import BalanceSnapshot, Ledger
from credits.selectors import ledger_balance
from credits.services.grants import grant_create
from credits.services.snapshots import balance_snapshot_save
from usage.services import meter_events_ingest
from usage.tests.factories import new_attribution_id

pytestmark = pytest.mark.django_db


def test_a_late_event_before_the_snapshot_is_counted(settings):
    who = new_attribution_id()
    now = timezone.now()
    start = (now - timedelta(hours=6)).replace(minute=0, second=0, microsecond=0)
    grant_create(attribution_id=who, amount="100", effective_at=start, now=start)
    snapshot_at = (now - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    balance_snapshot_save(ledger_id=Ledger.objects.get(attribution_id=who).pk, at=snapshot_at)
    assert BalanceSnapshot.objects.filter(ledger__attribution_id=who, at=snapshot_at).exists()

    # 2 hours late: 100,000 samples at 0.00001 credits = 1 credit, in an hour the snapshot covers.
    late = snapshot_at - timedelta(hours=2)
    results = meter_events_ingest(
        events=[
            {
                "unique_key": "late",
                "attribution_id": who,
                "occurred_at": late.isoformat(),
                "amounts": {"samples": 100_000},
            }
        ]
    )
    assert results[0].status == "accepted"

    assert not BalanceSnapshot.objects.filter(ledger__attribution_id=who, at__gte=late).exists()
    balance = ledger_balance(attribution_id=who, at=timezone.now())
    assert balance.grants[0].balance == Decimal("99")


def test_fresh_events_leave_snapshots_alone():
    who = new_attribution_id()
    now = timezone.now()
    grant_create(attribution_id=who, amount="100", effective_at=now - timedelta(hours=3), now=now)
    snapshot_at = (now - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    balance_snapshot_save(ledger_id=Ledger.objects.get(attribution_id=who).pk, at=snapshot_at)
    meter_events_ingest(
        events=[
            {
                "unique_key": "fresh",
                "attribution_id": who,
                "occurred_at": now.isoformat(),
                "amounts": {"samples": 5},
            }
        ]
    )
    assert BalanceSnapshot.objects.filter(ledger__attribution_id=who, at=snapshot_at).exists()
