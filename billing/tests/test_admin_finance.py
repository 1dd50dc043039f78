"""Finance staff's admin, as the Finance group sees it: teams by name, search by name, the
dashboard's figures, and exactly the pages the group may open."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import override_settings

from billing.tests.factories import FinanceUserFactory, TeamFactory
from credits.services.grants import grant_create
from usage.services import cost_center_get_or_create
from usage.tests.factories import UsageEntryFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)


@pytest.fixture
def finance(client):
    user = FinanceUserFactory()
    client.force_login(user)
    return user


@pytest.fixture
def acme_and_globex():
    return TeamFactory(name="Acme Rockets", slug="acme"), TeamFactory(
        name="Globex Corporation", slug="globex"
    )


def test_finance_is_staff_in_the_finance_group_and_no_superuser(finance):
    assert finance.is_staff and not finance.is_superuser
    assert finance.has_perm("credits.add_grant") and finance.has_perm("usage.change_costcenter")
    assert finance.has_perm("djstripe.view_invoice") and finance.has_perm("core.view_jobrun")
    assert not finance.has_perm("credits.delete_grant")
    assert not finance.has_perm("auth.view_user") and not finance.has_perm("auth.change_group")
    assert not finance.has_perm("django_celery_beat.change_periodictask")


FINANCE_PAGES = [
    "/admin/",
    "/admin/billing/team/",
    "/admin/billing/team/add/",
    "/admin/billing/disputeblock/",
    "/admin/billing/webhookoutcome/",
    "/admin/usage/costcenter/",
    "/admin/usage/usageentry/",
    "/admin/usage/meter/",
    "/admin/credits/ledger/",
    "/admin/credits/grant/",
    "/admin/credits/grant/add/",
    "/admin/credits/feature/",
    "/admin/traffic/trafficaccount/",
    "/admin/audit/auditevent/",
    "/admin/core/jobrun/",
    "/admin/djstripe/customer/",
    "/admin/djstripe/invoice/",
    "/admin/djstripe/subscription/",
    "/admin/djstripe/dispute/",
    "/admin/djstripe/event/",
    "/admin/djstripe/webhookeventtrigger/",
    "/admin/django_celery_beat/periodictask/",
]


@pytest.mark.parametrize("url", FINANCE_PAGES)
def test_finance_opens_every_page_it_needs(client, finance, url):
    assert client.get(url).status_code == 200


@pytest.mark.parametrize(
    "url", ["/admin/auth/user/", "/admin/auth/group/", "/admin/django_celery_beat/periodictask/add/"]
)
def test_finance_cannot_open_user_admin_or_edit_schedules(client, finance, url):
    assert client.get(url).status_code == 403


def test_the_sidebar_groups_tally_and_hides_what_finance_may_not_open(client, finance):
    html = client.get("/admin/").content.decode()
    for group in ["Billing", "Credits", "Usage", "Traffic", "Audit", "Stripe", "System"]:
        assert f"{group}\n" in html or f">{group}<" in html
    assert "/admin/djstripe/invoice/" in html and "/admin/core/jobrun/" in html
    assert "/admin/billing/team/unregistered-payers/" in html  # one step from the sidebar
    assert "/admin/auth/user/" not in html
    assert "/admin/djstripe/product/" not in html  # dj-stripe collapsed to what finance uses


def test_grants_name_their_team_linked_in_a_constant_number_of_queries(
    client, finance, acme_and_globex, django_assert_max_num_queries
):
    acme, globex = acme_and_globex
    for team in (acme, globex):
        for amount in ("10", "20", "30"):
            grant_create(attribution_id=team.attribution_id, amount=amount)
    with django_assert_max_num_queries(20):  # the same for 6 rows as for 600: one team lookup a page
        html = client.get("/admin/credits/grant/").content.decode()
    assert html.count(f'href="/admin/billing/team/{acme.pk}/change/"') == 3
    assert f'title="{globex.attribution_id}">Globex Corporation</a>' in html


def test_search_finds_a_teams_rows_by_name_slug_or_part_of_its_id(client, finance, acme_and_globex):
    acme, globex = acme_and_globex
    for team in (acme, globex):
        cost_center_get_or_create(attribution_id=team.attribution_id)
    for term in ["globex", "Globex Corp", str(globex.uuid)[:8]]:
        html = client.get("/admin/usage/costcenter/", {"q": term}).content.decode()
        assert "Globex Corporation" in html, term
        assert "Acme Rockets" not in html, term


def test_an_id_that_names_no_team_is_shown_raw_and_flagged(client, finance):
    # Billing state cannot be written for a ghost (unknown_attribution), but its usage is kept.
    ghost = "team:00000000-0000-4000-8000-000000000000"
    UsageEntryFactory(attribution_id=ghost)
    html = client.get("/admin/usage/usageentry/").content.decode()
    assert f"{ghost} <em>(unknown)</em>" in html


@override_settings(TALLY_DASHBOARD_DUST_CREDITS="1.00")
def test_the_dashboard_names_the_top_team_and_leaves_out_dust(client, finance, acme_and_globex):
    acme, globex = acme_and_globex
    with time_machine.travel(NOW - timedelta(days=3), tick=False):
        cost_center_get_or_create(attribution_id=acme.attribution_id)
        cost_center_get_or_create(attribution_id=globex.attribution_id)
        grant_create(attribution_id=acme.attribution_id, amount="5")
    # Acme used 12.5 + 7.25 = 19.75 credits over two days, 5 of them paid by its grant;
    # Globex used 0.0015 credits: dust.
    UsageEntryFactory(
        attribution_id=acme.attribution_id, credits=Decimal("12.5"), effective_time=NOW - timedelta(days=2)
    )
    UsageEntryFactory(
        attribution_id=acme.attribution_id, credits=Decimal("7.25"), effective_time=NOW - timedelta(days=1)
    )
    UsageEntryFactory(
        attribution_id=globex.attribution_id,
        credits=Decimal("0.0015"),
        effective_time=NOW - timedelta(days=1),
    )
    with time_machine.travel(NOW, tick=False):
        html = client.get("/admin/").content.decode()
    top = html[html.index('id="top-teams"') : html.index("</table>", html.index('id="top-teams"'))]
    assert "Acme Rockets" in top and 'title="14.750000">14.75<' in top
    assert "Globex" not in top
    assert "1 payer below 1.00 credits left out" in html
    daily = html[html.index('id="daily-table"') : html.index("</table>", html.index('id="daily-table"'))]
    # Grants pay the first credits: Acme's 12.5 - 5 on the first day, all 7.25 the next; the
    # chart counts every payer, so Globex's dust is in the second day.
    assert 'title="7.500000">7.50<' in daily and 'title="7.251500">7.25<' in daily
    assert 'id="daily-total" title="14.751500"' in html


def test_the_dashboard_lists_grants_expiring_within_7_days(client, finance, acme_and_globex):
    acme, _ = acme_and_globex
    with time_machine.travel(NOW, tick=False):
        grant_create(
            attribution_id=acme.attribution_id, amount="100", expiration_count=5, expiration_unit="DAY"
        )
        grant_create(
            attribution_id=acme.attribution_id, amount="200", expiration_count=30, expiration_unit="DAY"
        )
        html = client.get("/admin/").content.decode()
    expiring = html[
        html.index('id="expiring-grants"') : html.index("</table>", html.index('id="expiring-grants"'))
    ]
    assert "Acme Rockets" in expiring and ">100.00<" in expiring
    assert ">200.00<" not in expiring
