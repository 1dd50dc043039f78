"""History: every kind of entry, in time order, paged by the database across the snapshot boundary."""

from datetime import timedelta
from decimal import Decimal

import pytest

from credits.models import Ledger
from credits.selectors import ledger_history
from credits.services import balance_snapshot_save, grant_create, grant_void, ledger_reset
from credits.tests.factories import T0, rated_usage
from usage.tests.factories import new_attribution_id

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
END = T0 + 3 * DAY


def story(who):
    """Grant 100 at T0; 30 used at 1 h; void at 2 h; grant 50 (rollover) at 3 h; 20 used at 4 h;
    reset at day 1 (child of 30); 5 used on day 2."""
    first = grant_create(attribution_id=who, amount="100", effective_at=T0)
    rated_usage(who, 30, T0 + HOUR)
    grant_void(attribution_id=who, grant_id=first.id, voided_at=T0 + 2 * HOUR)
    second = grant_create(
        attribution_id=who, amount="50", effective_at=T0 + 3 * HOUR, rollover_type="REMAINING_AMOUNT"
    )
    rated_usage(who, 20, T0 + 4 * HOUR)
    [child] = ledger_reset(attribution_id=who, effective_at=T0 + DAY).rollover_grants
    rated_usage(who, 5, T0 + 2 * DAY)
    return first, second, child


def summary(entries):
    return [(e.type, e.time - T0, e.grant_id, e.amount) for e in entries]


def expected(first, second, child):
    return [
        ("GRANT", timedelta(0), first.id, Decimal(100)),
        ("GRANT_USAGE", timedelta(0), first.id, Decimal(30)),
        ("VOID", 2 * HOUR, first.id, None),
        ("GRANT", 3 * HOUR, second.id, Decimal(50)),
        ("GRANT_USAGE", 3 * HOUR, second.id, Decimal(20)),
        ("RESET", DAY, None, None),
        ("GRANT", DAY, child.id, Decimal(30)),
        ("GRANT_USAGE", DAY, child.id, Decimal(5)),
    ]


def test_history_tells_the_story_in_order():
    who = new_attribution_id()
    grants = story(who)

    entries, total = ledger_history(attribution_id=who, start=None, end=END, now=END).page(offset=0, limit=50)

    assert summary(entries) == expected(*grants)
    assert total == 8
    paid = [e for e in entries if e.type == "GRANT_USAGE"]
    assert (paid[0].period_start, paid[0].period_end) == (T0, T0 + 2 * HOUR)
    assert paid[-1].period_end == END


@pytest.mark.parametrize("snapshot_hours", [[], [12], [12, 30, 60]])
def test_pages_are_the_same_whatever_part_is_stored(snapshot_hours):
    who = new_attribution_id()
    grants = story(who)
    ledger = Ledger.objects.get(attribution_id=who)
    for hours in snapshot_hours:
        balance_snapshot_save(ledger_id=ledger.id, at=T0 + hours * HOUR)

    history = ledger_history(attribution_id=who, start=None, end=END, now=END)
    pages = [history.page(offset=offset, limit=3) for offset in (0, 3, 6)]
    entries = [e for page_entries, _ in pages for e in page_entries]

    # Snapshots cut GRANT_USAGE periods; per grant the amounts still add up the same.
    without_cuts = [row for row in summary(entries) if row[0] != "GRANT_USAGE"]
    assert without_cuts == [row for row in expected(*grants) if row[0] != "GRANT_USAGE"]
    paid: dict = {}
    for entry in entries:
        if entry.type == "GRANT_USAGE":
            paid[entry.grant_id] = paid.get(entry.grant_id, Decimal(0)) + entry.amount
    assert paid == {grants[0].id: Decimal(30), grants[1].id: Decimal(20), grants[2].id: Decimal(5)}
    assert [e.time for e in entries] == sorted(e.time for e in entries)
    assert pages[0][1] == len(entries)


def test_the_range_filters_entries():
    who = new_attribution_id()
    story(who)

    history = ledger_history(attribution_id=who, start=T0 + 2 * HOUR, end=T0 + DAY, now=END)

    assert [e.type for e in history.page(offset=0, limit=50)[0]] == ["VOID", "GRANT", "GRANT_USAGE"]


def test_a_subject_without_a_ledger_has_no_history():
    history = ledger_history(attribution_id=new_attribution_id(), start=None, end=None, now=END)
    assert history.page(offset=0, limit=50) == ([], 0)
