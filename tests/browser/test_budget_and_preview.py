"""An owner in headless Chromium: reads the invoice preview, sets the team's budget under
finance's limit, is refused above it, and sees the API give the same figures."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.tests.factories import DEFAULT_PASSWORD
from credits.services.allowances import allowance_template_create
from tests.browser.conftest import sign_in
from usage.services import cost_center_get_or_create, cost_center_set
from usage.tests.factories import UsageEntryFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FINANCE_LIMIT, ALLOWANCE, USED = "500", Decimal("40"), Decimal("100")


@pytest.fixture
def acme_cycle(team, owner, reference_data):
    start = timezone.now() - timedelta(days=4)
    cost_center_get_or_create(attribution_id=team.attribution_id, now=start)
    cost_center_set(attribution_id=team.attribution_id, spending_limit=FINANCE_LIMIT, now=start)
    allowance_template_create(attribution_id=team.attribution_id, amount=ALLOWANCE, name="Plan", now=start)
    UsageEntryFactory(
        attribution_id=team.attribution_id, credits=USED, effective_time=start + timedelta(days=1)
    )
    return start


def test_an_owner_reads_the_preview_and_sets_a_budget(
    page, live_server, team, owner, acme_cycle, internal_client
):
    sign_in(page, "alice", DEFAULT_PASSWORD)
    page.goto(f"/teams/{team.slug}/billing/")

    preview = internal_client.get(f"/api/v1/billing/{team.attribution_id}/upcoming").json()
    assert page.locator("#upcoming-billable .exact").get_attribute("title") == preview["billable_credits"]
    assert page.locator("#upcoming-billable").inner_text() == "60.00"  # 100 used, 40 by the allowance
    assert page.locator("#upcoming-applied-allowance").inner_text() == "40.00"
    assert page.locator("#budget-ceiling").inner_text() == "500.00"

    page.fill("#team_budget", "250")
    page.get_by_role("button", name="Save budget").click()
    page.wait_for_selector("#budget-current")
    assert "Budget set to 250.00 credits per cycle." in page.locator(".messages").inner_text()
    assert page.locator("#budget-effective").inner_text() == "250.00"
    assert page.locator("#spending-limit").inner_text() == "250.00"  # the card shows the limit that applies
    budget = internal_client.get(f"/api/v1/billing/{team.attribution_id}/budget").json()
    assert budget["effective_limit"] == page.locator("#budget-effective .exact").get_attribute("title")

    page.fill("#team_budget", "600")
    page.get_by_role("button", name="Save budget").click()
    page.wait_for_selector(".messages li.error")
    assert "above the spending limit finance allows" in page.locator(".messages").inner_text()
    assert page.locator("#budget-current").inner_text() == "250.00"
