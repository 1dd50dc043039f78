"""Rating meter rollups into hourly usage entries: drafts, finalisation, late corrections.

Rates used here (seeded): container-seconds 0.0002 credits each, samples 0.00001 each.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from usage.models import UsageEntry
from usage.selectors import credits_used, meter_units_used, usage_balance
from usage.services import meter_events_ingest, meter_rollups_rate
from usage.services.rating import meter_entry_key
from usage.tests.factories import new_attribution_id

pytestmark = pytest.mark.django_db


def send(who, key, at, **amounts):
    results = meter_events_ingest(
        events=[{"unique_key": key, "attribution_id": who, "occurred_at": at.isoformat(), "amounts": amounts}]
    )
    assert results[0].status == "accepted", results[0].reason


@pytest.fixture
def hour():
    now = datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)


def test_an_hour_of_usage_becomes_one_entry_priced_once(hour):
    who = new_attribution_id()
    send(who, "a", hour + timedelta(minutes=5), **{"container-seconds": 1000})
    send(who, "b", hour + timedelta(minutes=40), **{"container-seconds": 2600})
    before = usage_balance(attribution_id=who)

    result = meter_rollups_rate(now=hour + timedelta(minutes=50))

    entry = UsageEntry.objects.get(kind="meter", attribution_id=who)
    assert entry.object_id == meter_entry_key(who, "container-seconds", hour)
    assert entry.credits == Decimal("0.72")  # 3600 x 0.0002
    assert entry.draft is True  # the hour is still open
    assert entry.effective_time == hour
    assert result["entries_created"] == 1
    assert usage_balance(attribution_id=who) == before == Decimal("0.72")


def test_the_draft_is_rewritten_in_place_then_final_after_the_grace(hour):
    who = new_attribution_id()
    send(who, "a", hour + timedelta(minutes=5), samples=100_000)
    meter_rollups_rate(now=hour + timedelta(minutes=30))
    draft = UsageEntry.objects.get(kind="meter", attribution_id=who)
    assert draft.credits == Decimal("1")

    send(who, "b", hour + timedelta(minutes=45), samples=50_000)
    assert usage_balance(attribution_id=who) == Decimal("1.5")  # visible before rating
    meter_rollups_rate(now=hour + timedelta(minutes=50))
    rewritten = UsageEntry.objects.get(kind="meter", attribution_id=who)
    assert (rewritten.pk, rewritten.credits, rewritten.draft) == (draft.pk, Decimal("1.5"), True)

    result = meter_rollups_rate(now=hour + timedelta(minutes=71))  # 60 + 10 grace has passed
    final = UsageEntry.objects.get(kind="meter", attribution_id=who)
    assert (final.pk, final.credits, final.draft) == (draft.pk, Decimal("1.5"), False)
    assert result["finalized"] == 1


def test_late_events_for_a_final_hour_land_in_a_correction(hour):
    who = new_attribution_id()
    send(who, "a", hour + timedelta(minutes=5), samples=100_000)
    meter_rollups_rate(now=hour + timedelta(minutes=80))
    assert UsageEntry.objects.get(kind="meter", attribution_id=who).draft is False

    send(who, "late", hour + timedelta(minutes=59), samples=30_000)
    assert usage_balance(attribution_id=who) == Decimal("1.3")
    meter_rollups_rate(now=hour + timedelta(minutes=90))
    meter_rollups_rate(now=hour + timedelta(minutes=95))  # nothing new: no second correction

    entries = UsageEntry.objects.filter(kind="meter", attribution_id=who).order_by("created_at")
    assert [(e.credits, e.draft) for e in entries] == [(Decimal("1"), False), (Decimal("0.3"), False)]
    assert entries[1].object_id.startswith(meter_entry_key(who, "samples", hour) + ":corr:")
    assert usage_balance(attribution_id=who) == Decimal("1.3")


def test_rating_twice_changes_nothing(hour):
    who = new_attribution_id()
    for n in range(5):
        send(who, f"e{n}", hour + timedelta(minutes=10 * n), samples=1000 * (n + 1))
    meter_rollups_rate(now=hour + timedelta(minutes=90))
    first = list(UsageEntry.objects.filter(attribution_id=who).values_list("id", "credits", "draft"))
    meter_rollups_rate(now=hour + timedelta(minutes=90))
    assert list(UsageEntry.objects.filter(attribution_id=who).values_list("id", "credits", "draft")) == first


def test_each_hour_and_meter_is_its_own_entry(hour):
    who = new_attribution_id()
    send(who, "a", hour + timedelta(minutes=1), samples=100, **{"container-seconds": 10})
    send(who, "b", hour + timedelta(minutes=61), samples=200)
    meter_rollups_rate(now=hour + timedelta(minutes=130))
    keys = sorted(UsageEntry.objects.filter(attribution_id=who).values_list("object_id", flat=True))
    assert keys == sorted(
        [
            meter_entry_key(who, "samples", hour),
            meter_entry_key(who, "container-seconds", hour),
            meter_entry_key(who, "samples", hour + timedelta(hours=1)),
        ]
    )


def test_credits_used_and_meter_units_include_unrated_usage(hour):
    who = new_attribution_id()
    send(who, "a", hour + timedelta(minutes=5), samples=100_000)
    window = {"start": hour, "end": hour + timedelta(hours=1)}
    assert credits_used(attribution_id=who, **window) == Decimal("1")
    assert meter_units_used(attribution_id=who, meter_slug="samples", **window) == Decimal(100_000)
    meter_rollups_rate(now=hour + timedelta(minutes=30))
    assert credits_used(attribution_id=who, **window) == Decimal("1")
    assert (
        credits_used(attribution_id=who, start=hour + timedelta(hours=1), end=hour + timedelta(hours=2)) == 0
    )
