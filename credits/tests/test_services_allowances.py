"""Recurring allowances, as worked examples: "200 credits every cycle, priority 5, expiring at
the cycle's end", issued exactly once per cycle by cycle close (or at once for a template made
mid-cycle), paying usage before prepaid grants of a lower rank."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from audit.models import AuditEvent
from billing.services.cycles import cycle_close, cycles_close
from core.errors import ValidationFailed
from core.months import add_months
from credits.engine import truncate_to_minute
from credits.models import AllowanceIssue, AllowanceTemplate, BalanceSnapshot, Grant
from credits.selectors import ledger_balance
from credits.services.allowances import (
    allowance_template_create,
    allowance_template_deactivate,
    allowance_template_update,
    allowances_issue_in_callers_transaction,
)
from credits.services.grants import grant_create
from credits.tests.factories import rated_usage
from usage.models import CostCenter
from usage.services import cost_center_get_or_create
from usage.tests.factories import NOON, new_attribution_id, unregistered_attribution_id

ALLOWANCE_200 = Decimal("200")
PREPAID_500 = Decimal("500")
USAGE_150 = Decimal("150")
CYCLE_START = NOON - timedelta(days=40)  # a month later the cycle is due, before now
FIRST_CLOSE = add_months(CYCLE_START, 1) + timedelta(minutes=5)


def allowance_grants(who: str) -> list[Grant]:
    return list(Grant.objects.filter(ledger__attribution_id=who, metadata__kind="allowance").order_by("id"))


def team_with_cycle(start=CYCLE_START) -> str:
    who = new_attribution_id()
    cost_center_get_or_create(attribution_id=who, now=start)
    return who


@pytest.mark.django_db
def test_a_template_made_mid_cycle_is_issued_at_once_until_the_cycle_ends():
    who = team_with_cycle()
    mid_cycle = CYCLE_START + timedelta(days=3, minutes=7, seconds=30)

    template = allowance_template_create(
        attribution_id=who, amount="200", name="Team plan", priority=5, created_by="finance", now=mid_cycle
    )

    (grant,) = allowance_grants(who)
    assert grant.amount == ALLOWANCE_200
    assert grant.priority == 5
    assert grant.effective_at == truncate_to_minute(mid_cycle)
    assert grant.expires_at == truncate_to_minute(
        CostCenter.objects.get(attribution_id=who).next_billing_time
    )
    assert grant.metadata == {"kind": "allowance", "allowance_template": template.pk, "name": "Team plan"}
    assert AllowanceIssue.objects.get(template=template).cycle_start == CYCLE_START
    actions = set(AuditEvent.objects.filter(attribution_id=who).values_list("action", flat=True))
    assert {"allowance.created", "allowance.issued", "grant.created"} <= actions


@pytest.mark.django_db
def test_cycle_close_issues_each_template_once_per_cycle_and_a_second_run_nothing():
    who = team_with_cycle()
    template = allowance_template_create(attribution_id=who, amount="200", now=CYCLE_START)
    second_cycle = add_months(CYCLE_START, 1)

    closed = cycle_close(attribution_id=who, now=FIRST_CLOSE)

    assert closed.new_cycle_start == second_cycle
    assert cycle_close(attribution_id=who, now=FIRST_CLOSE) is None
    assert cycles_close(now=FIRST_CLOSE)["cost_centers_closed"] == 0
    # The issuer itself, called again for the same cycle, finds it issued.
    with connection.cursor():
        again = allowances_issue_in_callers_transaction(
            attribution_id=who,
            cycle_start=second_cycle,
            cycle_end=add_months(CYCLE_START, 2),
            now=FIRST_CLOSE,
        )
    assert again == []
    issues = AllowanceIssue.objects.filter(template=template).order_by("cycle_start")
    assert [i.cycle_start for i in issues] == [CYCLE_START, second_cycle]
    new_grant = issues.last().grant
    assert (new_grant.effective_at, new_grant.expires_at) == (second_cycle, add_months(CYCLE_START, 2))
    assert new_grant.metadata["name"] == "Allowance"  # no name given


@pytest.mark.django_db
def test_the_allowance_pays_usage_before_a_prepaid_grant_of_a_later_priority():
    # Given a prepaid grant of 500 (priority 10, as top-ups) and an allowance of 200 (priority 5),
    # usage of 150 is paid by the allowance alone: 50 of it left, the prepaid 500 untouched.
    who = team_with_cycle()
    grant_create(
        attribution_id=who, amount=PREPAID_500, priority=10, effective_at=CYCLE_START, now=CYCLE_START
    )
    allowance_template_create(attribution_id=who, amount=ALLOWANCE_200, priority=5, now=CYCLE_START)
    rated_usage(who, USAGE_150, CYCLE_START + timedelta(days=2))

    balance = ledger_balance(attribution_id=who, at=CYCLE_START + timedelta(days=3))

    left = {g.grant.priority: g.balance for g in balance.grants}
    assert left == {5: ALLOWANCE_200 - USAGE_150, 10: PREPAID_500}


@pytest.mark.django_db
def test_the_allowance_expires_at_the_cycle_end_and_the_next_one_takes_over_in_full():
    # 300 used in the first cycle: its allowance of 200 pays 200, 100 is overage. The reset at
    # the close drops that overage, so the new cycle's allowance starts with all of its 200.
    who = team_with_cycle()
    allowance_template_create(attribution_id=who, amount=ALLOWANCE_200, now=CYCLE_START)
    rated_usage(who, USAGE_150 * 2, CYCLE_START + timedelta(days=2))
    cycle_close(attribution_id=who, now=FIRST_CLOSE)
    cycle_end = add_months(CYCLE_START, 1)

    before_end = ledger_balance(attribution_id=who, at=cycle_end - timedelta(minutes=1))
    after_end = ledger_balance(attribution_id=who, at=cycle_end + timedelta(minutes=1))

    assert before_end.balance == 0  # the first cycle's, used up
    assert after_end.balance == ALLOWANCE_200  # only the second cycle's, whole
    # The reset's snapshot survives the allowance (issued before the reset, it knows the grant).
    assert BalanceSnapshot.objects.filter(ledger__attribution_id=who, at=cycle_end).exists()
    first, second = allowance_grants(who)
    assert first.expires_at == second.effective_at == cycle_end


@pytest.mark.django_db
def test_a_close_catching_up_three_months_issues_one_allowance_for_the_cycle_it_lands_in():
    who = team_with_cycle()
    template = allowance_template_create(attribution_id=who, amount=ALLOWANCE_200, now=CYCLE_START)
    three_months_late = add_months(CYCLE_START, 3) + timedelta(hours=1)

    closed = cycle_close(attribution_id=who, now=three_months_late)

    assert closed.new_cycle_start == add_months(CYCLE_START, 3)
    cycles = list(AllowanceIssue.objects.filter(template=template).values_list("cycle_start", flat=True))
    assert sorted(cycles) == [CYCLE_START, add_months(CYCLE_START, 3)]


@pytest.mark.django_db
def test_an_inactive_template_is_not_issued_and_a_change_applies_from_the_next_cycle():
    who = team_with_cycle()
    kept = allowance_template_create(attribution_id=who, amount="100", name="Kept", now=CYCLE_START)
    stopped = allowance_template_create(attribution_id=who, amount="50", name="Stopped", now=CYCLE_START)
    allowance_template_update(attribution_id=who, template_id=kept.pk, amount="120", now=CYCLE_START)
    allowance_template_deactivate(attribution_id=who, template_id=stopped.pk)

    cycle_close(attribution_id=who, now=FIRST_CLOSE)

    amounts = [(g.metadata["name"], g.amount) for g in allowance_grants(who)]
    # The first cycle's grants keep their terms; the next cycle has only the kept one, at 120.
    assert amounts == [("Kept", Decimal("100")), ("Stopped", Decimal("50")), ("Kept", Decimal("120"))]
    assert AuditEvent.objects.filter(action="allowance.deactivated", object_id=str(stopped.pk)).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("terms", "code"),
    [
        ({"amount": "0"}, "invalid_amount"),
        ({"amount": "1.0000001"}, "invalid_credits"),
        ({"amount": "10", "priority": 256}, "invalid_priority"),
        ({"amount": "10", "feature_key": "no-such-feature"}, "unknown_feature"),
        ({"amount": "10", "expires_at_cycle_end": "yes"}, "invalid_expires_at_cycle_end"),
    ],
)
def test_bad_terms_are_a_400_and_store_nothing(terms, code):
    who = team_with_cycle()
    with pytest.raises(ValidationFailed) as refused:
        allowance_template_create(attribution_id=who, now=CYCLE_START, **terms)
    assert refused.value.code == code
    assert not AllowanceTemplate.objects.filter(attribution_id=who).exists()
    assert not Grant.objects.filter(ledger__attribution_id=who).exists()


@pytest.mark.django_db
def test_a_template_for_nobody_is_refused():
    nobody = unregistered_attribution_id()
    with pytest.raises(ValidationFailed) as refused:
        allowance_template_create(attribution_id=nobody, amount="10")
    assert refused.value.code == "unknown_attribution"
    assert not AllowanceTemplate.objects.filter(attribution_id=nobody).exists()


@pytest.mark.django_db(transaction=True)
def test_two_closes_at_once_issue_the_allowance_once():
    who = team_with_cycle()
    template = allowance_template_create(attribution_id=who, amount=ALLOWANCE_200, now=CYCLE_START)
    start = threading.Barrier(2)
    outcomes = []

    def close():
        try:
            start.wait(5)
            outcomes.append(cycle_close(attribution_id=who, now=FIRST_CLOSE))
        finally:
            connection.close()

    threads = [threading.Thread(target=close) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(o is None for o in outcomes) == [False, True]  # one closed, one found nothing due
    assert AllowanceIssue.objects.filter(template=template).count() == 2  # the first cycle's and the new one
    assert (
        AllowanceIssue.objects.filter(template=template, cycle_start=add_months(CYCLE_START, 1)).count() == 1
    )
