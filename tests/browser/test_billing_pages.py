"""A person's view, in headless Chromium: a member's billing page and finance staff's admin.

Screenshots of both surfaces are written to docs/screenshots/.
"""

import csv
import io
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from billing.tests.factories import DEFAULT_PASSWORD
from credits.services.grants import grant_create
from tests.browser.conftest import sign_in
from usage.services import cost_center_get_or_create, cost_center_set
from usage.tests.factories import UsageEntryFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme_usage(team, member, reference_data):
    start = timezone.now() - timedelta(days=6, hours=3)
    cost_center_get_or_create(attribution_id=team.attribution_id, now=start)
    cost_center_set(attribution_id=team.attribution_id, spending_limit="100", now=start)
    grant_create(attribution_id=team.attribution_id, amount="25", effective_at=start, now=start)
    for day, credits in enumerate(["12.5", "3", "7.25", "0.5", "20", "4"]):
        UsageEntryFactory(
            attribution_id=team.attribution_id,
            credits=Decimal(credits),
            effective_time=start + timedelta(days=day, hours=4),
            kind="workspace" if day % 2 else "meter",
        )
    return start


def test_a_member_signs_in_and_sees_the_numbers_the_api_gives(
    page, live_server, team, member, acme_usage, internal_client, screenshot_dir
):
    sign_in(page, "bob", DEFAULT_PASSWORD)
    page.get_by_role("link", name="Acme").click()
    page.wait_for_selector("#used")

    api_balance = internal_client.get(f"/api/v1/balance/{team.attribution_id}").json()["credits"]
    api_grants = internal_client.get(f"/api/v1/ledgers/{team.attribution_id}/balance").json()
    assert page.locator("#used").inner_text() == "47.25"  # 12.5 + 3 + 7.25 + 0.5 + 20 + 4
    assert page.locator("#used .exact").get_attribute("title") == api_balance == "47.250000"
    assert page.locator("#billable").inner_text() == "22.25"  # 47.25 used, 25 paid by the grant
    assert page.locator("#billable .exact").get_attribute("title") == "22.250000"
    assert page.locator("#spending-limit").inner_text() == "100.00"
    assert page.locator("#limit-bar").get_attribute("aria-valuenow") == "22"
    remaining = [t.get_attribute("title") for t in page.locator("#grants td.remaining .exact").all()]
    assert remaining == [g["balance"] for g in api_grants["grants"]] == ["0.000000"]
    assert "UTC" in page.locator("#cycle-end").inner_text()
    assert page.locator("#usage-total").inner_text() == "47.25"
    assert page.locator("#chart-legend li").all_inner_texts() == [
        "Workspaces 7.50 credits",  # the odd days: 3 + 0.5 + 4
        "Meters 39.75 credits",  # the even days: 12.5 + 7.25 + 20
    ]
    # The cycle started 6 days and 3 hours ago: 7 calendar days (8 when that crosses midnight twice).
    days = page.locator("#usage-chart g.day").count()
    assert days == int(page.locator("#usage-chart").get_attribute("data-days"))
    assert days == (timezone.now().date() - acme_usage.date()).days + 1
    page.screenshot(path=str(screenshot_dir / "team-billing.png"), full_page=True)


def test_the_page_works_at_390_px(browser, live_server, team, member, acme_usage, screenshot_dir):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, "bob", DEFAULT_PASSWORD)
    page.goto(f"/teams/{team.slug}/billing/")
    assert page.locator("#used").is_visible()
    assert page.locator("#billable").is_visible()
    # Nothing but the scrollable chart and tables (inside their wrappers) is wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate("document.body.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(screenshot_dir / "team-billing-390.png"), full_page=True)
    page.goto("/teams/")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    context.close()


def test_the_chart_table_opens_from_the_keyboard(page, live_server, team, member, acme_usage):
    sign_in(page, "bob", DEFAULT_PASSWORD)
    page.goto(f"/teams/{team.slug}/billing/")
    assert not page.locator("#chart-table").is_visible()
    page.locator("#chart-table-toggle summary").focus()
    page.keyboard.press("Enter")
    assert page.locator("#chart-table").is_visible()
    assert page.locator("#chart-table tfoot td").last.inner_text() == "47.25"


def test_a_member_of_another_team_gets_404(page, live_server, team, other_team, member):
    sign_in(page, "bob", DEFAULT_PASSWORD)
    response = page.goto(f"/teams/{other_team.slug}/billing/")
    assert response.status == 404
    assert page.get_by_role("heading", name="Not found").is_visible()


def test_the_csv_matches_the_ledger(page, live_server, team, member, acme_usage):
    sign_in(page, "bob", DEFAULT_PASSWORD)
    page.goto(f"/teams/{team.slug}/billing/")
    with page.expect_download() as download:
        page.locator("#usage-csv").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert sorted(Decimal(r["credits"]) for r in rows) == sorted(
        Decimal(c) for c in ["12.5", "3", "7.25", "0.5", "20", "4"]
    )


def test_staff_grant_then_void_through_the_admin_and_the_team_page_follows(
    browser, live_server, team, member, staff_user, acme_usage, screenshot_dir
):
    staff = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    admin = staff.new_page()
    sign_in(admin, "finance", DEFAULT_PASSWORD)
    admin.goto(f"/admin/credits/grant/add/?attribution_id={team.attribution_id}")
    admin.locator("#id_amount").fill("40")
    admin.locator("#id_priority").fill("5")
    admin.screenshot(path=str(screenshot_dir / "admin-grant-create.png"), full_page=True)
    admin.get_by_role("button", name="Grant").click()
    admin.wait_for_load_state()
    assert "Granted 40.000000" in admin.content()

    member_ctx = browser.new_context(base_url=live_server.url)
    page = member_ctx.new_page()
    sign_in(page, "bob", DEFAULT_PASSWORD)
    page.goto(f"/teams/{team.slug}/billing/")
    assert page.locator("#grants tbody tr").count() == 2
    assert page.locator("#billable").inner_text() == "0.00"  # 47.25 used, 25 + 22.25 of the 40 paid

    admin.goto("/admin/credits/grant/?q=" + team.attribution_id)
    admin.locator("input[name=_selected_action]").first.check()  # newest first: the grant of 40
    admin.select_option("select[name=action]", "void")
    admin.locator("button[title='Run the selected action']").click()  # unfold's "Go"
    admin.wait_for_load_state()
    admin.screenshot(path=str(screenshot_dir / "admin-grant-void-confirm.png"), full_page=True)
    admin.get_by_role("button", name="Yes, void them").click()
    admin.wait_for_load_state()
    assert "Voided 1 grant" in admin.content()

    page.reload()
    assert "voided" in page.locator("#grants").inner_text()
    staff.close()
    member_ctx.close()


def test_the_finance_admin_index(page, live_server, staff_user, screenshot_dir):
    sign_in(page, "finance", DEFAULT_PASSWORD)
    page.goto("/admin/")
    assert page.locator("#finance-dashboard").is_visible()  # the index is the finance dashboard
    page.screenshot(path=str(screenshot_dir / "admin-index.png"), full_page=True)
