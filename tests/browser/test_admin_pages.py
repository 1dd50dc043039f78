"""Finance staff's admin in headless Chromium: the dashboard as the index, teams by name.

Screenshots: docs/screenshots/admin-dashboard.png, admin-cost-centers-search.png, admin-job-runs.png.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.tests.factories import DEFAULT_PASSWORD, FinanceUserFactory
from core.models import JobRun
from tests.browser.conftest import sign_in
from usage.services import cost_center_get_or_create
from usage.tests.factories import UsageEntryFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_finance_sees_the_dashboard_and_finds_a_team_by_name(page, live_server, team, screenshot_dir):
    FinanceUserFactory()
    start = timezone.now() - timedelta(days=3)
    cost_center_get_or_create(attribution_id=team.attribution_id, now=start)
    for day, credits in enumerate(["1200.5", "30", "7.25"]):
        UsageEntryFactory(
            attribution_id=team.attribution_id,
            credits=Decimal(credits),
            effective_time=start + timedelta(days=day),
        )
    JobRun.objects.create(
        job="usage.rate",
        started_at=timezone.now(),
        finished_at=timezone.now(),
        outcome="ok",
        result={"rated": 3},
    )

    sign_in(page, "finance", DEFAULT_PASSWORD)
    page.goto("/admin/")
    page.wait_for_selector("#finance-dashboard canvas")
    top = page.locator("#top-teams tr.top-team")
    assert top.count() == 1
    assert team.name in top.inner_text()
    assert "1,237.75" in top.locator("td.billable").inner_text()
    page.screenshot(path=str(screenshot_dir / "admin-dashboard.png"), full_page=True)

    page.goto(f"/admin/usage/costcenter/?q={team.slug}")
    assert page.get_by_role("link", name=team.name).count() == 1
    page.screenshot(path=str(screenshot_dir / "admin-cost-centers-search.png"), full_page=True)

    page.goto("/admin/core/jobrun/")
    assert "rated 3" in page.content()
    page.screenshot(path=str(screenshot_dir / "admin-job-runs.png"), full_page=True)
