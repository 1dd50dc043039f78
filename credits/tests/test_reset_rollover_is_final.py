"""A reset's rollover is decided when the reset runs; later changes to the usage before it do not
conjure a child it did not create (found by an outside schemathesis run: such a phantom child
rolled over again at the next reset and the reset answered 500)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from credits.models import BalanceSnapshot, Grant
from credits.selectors import ledger_balance
from credits.services.grants import grant_create
from credits.services.resets import ledger_reset
from usage.models import UsageEntry
from usage.tests.factories import UsageEntryFactory, new_attribution_id

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 3, 0, 0, tzinfo=UTC)


def test_usage_changed_before_a_reset_does_not_add_a_rollover_it_did_not_make():
    who = new_attribution_id()
    grant_create(attribution_id=who, amount="100", effective_at=T0, rollover_type="REMAINING_AMOUNT", now=T0)
    # An hour of meter usage, rated as a draft (the hourly rating revises drafts until final).
    draft = UsageEntryFactory(
        attribution_id=who,
        kind="meter",
        draft=True,
        credits=Decimal("100"),
        effective_time=T0 + timedelta(hours=1),
    )
    # At T1 the grant is spent: nothing rolls over.
    assert ledger_reset(attribution_id=who, effective_at=T1, now=T1).rollover_grants == []

    # Later the rating revises that draft down to 60, and the snapshots (only ever a speed-up)
    # are deleted: the next reset recomputes across T1, where the grant now had 40 left.
    UsageEntry.objects.filter(pk=draft.pk).update(credits=Decimal("60"))
    BalanceSnapshot.objects.filter(ledger__attribution_id=who).delete()

    outcome = ledger_reset(attribution_id=who, effective_at=T2, now=T2)

    # The grant ended at T1 with no child; nothing rolls over at T2 either, and no credits appear.
    assert outcome.rollover_grants == []
    assert Grant.objects.filter(ledger__attribution_id=who).count() == 1
    assert ledger_balance(attribution_id=who, at=T2 + timedelta(hours=1)).balance == Decimal("0")
