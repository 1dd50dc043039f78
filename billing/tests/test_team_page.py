"""The team billing page: the numbers a member sees, and who may see them."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from credits.services.grants import grant_create
from usage.services import cost_center_get_or_create, cost_center_set
from usage.tests.factories import UsageEntryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ten_days_of_usage(team):
    """A cycle that started 9 days and an hour before today's noon: 10 calendar days whatever the
    hour the suite runs (at 00:30 "9 days and an hour ago" would be 11 calendar days back)."""
    noon = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    with time_machine.travel(noon, tick=True):
        yield _ten_days_of_usage(team, noon)


def _ten_days_of_usage(team, now):
    start = now - timedelta(days=9, hours=1)
    cost_center_get_or_create(attribution_id=team.attribution_id, now=start)
    cost_center_set(attribution_id=team.attribution_id, spending_limit="100", now=start)
    grant_create(attribution_id=team.attribution_id, amount="50", effective_at=start, now=start)
    for day in range(9):
        UsageEntryFactory(
            attribution_id=team.attribution_id,
            credits=Decimal("10"),
            effective_time=start + timedelta(days=day, hours=2),
        )
    return start


def shown(value: str) -> str:
    """How the page shows a figure: 2 places, the exact 6 one hover away."""
    exact = f"{Decimal(value.replace(',', '')):.6f}"
    return f'<span class="exact" title="{exact}">{value}</span>'


def test_a_member_sees_used_billable_limit_grants_and_chart(client, team, member, ten_days_of_usage):
    client.force_login(member)
    page = client.get(f"/teams/{team.slug}/billing/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="used">' + shown("90.00") in html  # 9 days of 10 credits
    assert 'id="covered">' + shown("50.00") in html  # the grant of 50 paid for 50 of them
    assert 'id="billable">' + shown("40.00") in html
    assert 'id="spending-limit">' + shown("100.00") in html
    assert 'aria-valuenow="40"' in html  # 40 billable of a 100 limit
    assert 'data-days="10"' in html  # cycle started 9 days and an hour ago: 10 calendar days
    assert '<td class="num nowrap remaining">' + shown("0.00") + " credits</td>" in html  # used up
    assert "Balance" not in html  # what was used is never called a balance
    assert "billable-money" not in html  # no Stripe price known: no money shown
    assert "Payment (owners)" not in html  # members see no owner actions


def test_the_bar_turns_amber_at_80_and_red_at_100(client, team, member, ten_days_of_usage):
    client.force_login(member)
    UsageEntryFactory(attribution_id=team.attribution_id, credits=Decimal("45"))  # billable 85 of 100
    assert 'class="bar warn"' in client.get(f"/teams/{team.slug}/billing/").content.decode()
    UsageEntryFactory(attribution_id=team.attribution_id, credits=Decimal("15"))  # 100 of 100
    assert 'class="bar over"' in client.get(f"/teams/{team.slug}/billing/").content.decode()


def test_other_teams_and_strangers_get_404(client, team, other_team, member):
    client.force_login(member)
    assert client.get(f"/teams/{other_team.slug}/billing/").status_code == 404
    assert client.get("/teams/nope/billing/").status_code == 404
    assert client.get(f"/teams/{other_team.slug}/billing/usage.csv").status_code == 404


def test_owners_see_payment_actions(client, team, owner, settings):
    settings.STRIPE_PRICE_IDS = {"eur": "price_x"}
    client.force_login(owner)
    html = client.get(f"/teams/{team.slug}/billing/").content.decode()
    assert "Create Stripe customer" in html
    assert '<label for="id_email">' in html


def test_members_cannot_post_owner_actions(client, team, member):
    client.force_login(member)
    assert client.post(f"/teams/{team.slug}/billing/hold").status_code == 404


def test_the_csv_matches_the_ledger(client, team, member, ten_days_of_usage):
    client.force_login(member)
    response = client.get(f"/teams/{team.slug}/billing/usage.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 9
    assert sum(Decimal(r["credits"]) for r in rows) == Decimal("90")


def test_the_dispute_banner_shows_when_blocked(client, team, member):
    from usage.services import cost_center_block

    cost_center_block(attribution_id=team.attribution_id, reason="Stripe dispute dp_1")
    client.force_login(member)
    assert 'id="dispute-banner"' in client.get(f"/teams/{team.slug}/billing/").content.decode()


def test_worked_example_what_is_left_comes_first_per_kind_and_unit(client, team, member):
    """500 prepaid + 100 promotional credits and 10,000 api_calls; 360 credits used.

    The promotional grant expires, so it burns first (100), the prepaid one pays the other 260:
    left 240 prepaid credits, 0 promotional, and the api_calls grant untouched in its own unit.
    """
    from credits.services.features import feature_create

    now = timezone.now()
    start = now - timedelta(days=9, hours=1)
    cost_center_get_or_create(attribution_id=team.attribution_id, now=start)
    cost_center_set(attribution_id=team.attribution_id, spending_limit="1000", now=start)
    grant_create(
        attribution_id=team.attribution_id,
        amount="500",
        effective_at=start,
        metadata={"kind": "prepaid", "name": "Annual prepaid"},
        now=start,
    )
    grant_create(
        attribution_id=team.attribution_id,
        amount="100",
        effective_at=start,
        expiration_count=2,
        expiration_unit="MONTH",
        now=start,
    )
    feature_create(key="api_calls", name="API calls", meter_slug="api-calls")
    grant_create(
        attribution_id=team.attribution_id,
        amount="10000",
        feature_key="api_calls",
        effective_at=start,
        metadata={"kind": "allowance"},
        now=start,
    )
    for day in range(9):
        UsageEntryFactory(
            attribution_id=team.attribution_id,
            credits=Decimal("40"),
            effective_time=start + timedelta(days=day),
        )

    client.force_login(member)
    html = client.get(f"/teams/{team.slug}/billing/").content.decode()

    assert html.index('id="left"') < html.index('id="used"') < html.index('id="billable"')
    assert html.index('id="billable"') < html.index('id="limit-bar"') < html.index('id="cycle-end"')
    left = html[html.index('id="left"') : html.index('id="cycle-heading"')]
    assert 'data-kind="prepaid" data-unit="credits"' in left
    assert shown("240.00") + ' <span class="unit">credits</span>' in left
    assert 'data-kind="promotional" data-unit="credits"' in left
    assert shown("0.00") + ' <span class="unit">credits</span>' in left
    assert 'data-kind="allowance" data-unit="api_calls"' in left
    assert shown("10,000.00") + ' <span class="unit">api_calls</span>' in left  # never "credits"

    grants = html[html.index('id="grants"') : html.index('id="entries-heading"')]
    assert "Annual prepaid" in grants
    assert "Promotional grant #" in grants and "(inferred)" in grants  # no kind stored: it expires
    assert shown("10,000.00") + " api_calls</td>" in grants
    assert 'id="used">' + shown("360.00") in html
    assert 'id="billable">' + shown("0.00") in html  # all paid by credits
    assert 'aria-valuenow="0"' in html
    cost_center = cost_center_get_or_create(attribution_id=team.attribution_id, now=now)
    end = timezone.localtime(cost_center.next_billing_time)
    assert f'id="cycle-end" datetime="{end.isoformat()}">{end.day} {end:%b %Y, %H:%M} UTC</time>' in html


def test_billable_credits_show_money_when_the_price_is_known(
    client, team, member, ten_days_of_usage, settings
):
    """40 billable credits at 0.36 EUR each (dj-stripe's copy of the metered price): about 14.40 EUR."""
    from djstripe.models import Customer, Price, Product

    settings.STRIPE_PRICE_IDS = {"eur": "price_eur"}
    Customer.objects.create(
        id="cus_acme",
        livemode=False,
        metadata={"attributionId": team.attribution_id, "preferredCurrency": "eur"},
    )
    product = Product.objects.create(
        id="prod_credits", livemode=False, stripe_data={"id": "prod_credits", "name": "Credits"}
    )
    Price.objects.create(
        id="price_eur",
        livemode=False,
        product=product,
        currency="eur",
        active=True,
        nickname="credits",
        stripe_data={"id": "price_eur", "currency": "eur", "unit_amount": 36, "unit_amount_decimal": "36"},
    )
    client.force_login(member)
    html = client.get(f"/teams/{team.slug}/billing/").content.decode()
    assert 'id="billable-money" title="14.400000 EUR at 0.36 EUR per credit">≈ €14.40</div>' in html


def test_the_invoice_list_reads_djstripe_records(client, team, member):
    """dj-stripe's invoice of 2000 minor units of USD is "$20.00", paid, with its two links."""
    from djstripe.models import Customer, Invoice

    from tests.stripe_fake import fixture

    data = fixture("invoice")
    customer = Customer.objects.create(
        id=data["customer"], livemode=False, metadata={"attributionId": team.attribution_id}
    )
    Invoice.objects.create(
        id=data["id"], livemode=False, customer=customer, stripe_data=data, created=timezone.now()
    )
    client.force_login(member)
    html = client.get(f"/teams/{team.slug}/billing/").content.decode()
    invoices = html[html.index('id="invoices"') :]
    assert data["number"] in invoices
    assert '<span class="badge paid">paid</span>' in invoices
    assert '<td class="num nowrap" title="20.00 USD">$20.00</td>' in invoices
    assert f'href="{data["hosted_invoice_url"]}"' in invoices
    assert f'href="{data["invoice_pdf"]}"' in invoices


def test_meter_entries_read_as_sentences(client, team, member):
    hour = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    UsageEntryFactory(
        attribution_id=team.attribution_id,
        kind="meter",
        credits=Decimal("0.6"),
        effective_time=hour,
        description=f"samples: 60000 units, hour from {hour:%Y-%m-%dT%H:%M:%SZ}",
        metadata={"meter": "samples", "units": 60000, "hour": f"{hour:%Y-%m-%dT%H:%M:%SZ}"},
    )
    client.force_login(member)
    html = client.get(f"/teams/{team.slug}/billing/").content.decode()
    end = hour + timedelta(hours=1)
    assert f"Samples — 60,000 units, {hour:%H:%M}\u2013{end:%H:%M} UTC" in html
    assert "hour from" not in html


def test_a_stranger_gets_our_404_page_even_with_debug_on(client, team, other_team, member, settings):
    settings.DEBUG = True  # as in the demo
    client.force_login(member)
    response = client.get(f"/teams/{other_team.slug}/billing/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "<h1>Not found</h1>" in html
    assert "no such team, or you are not a member of it" in html
    assert "Page not found at" not in html  # not Django's debug page
    assert other_team.name not in html


def test_the_amount_filter_rounds_exactly_and_keeps_the_exact_value_in_a_title():
    from billing.templatetags.billing_extras import amount, figure

    assert amount(Decimal("1234.5678")) == "1,234.57"
    assert amount("1000000") == "1,000,000.00"
    assert amount(Decimal("0.005")) == "0.01"  # half up, in Decimal
    assert amount(Decimal("-1234.5")) == "-1,234.50"
    assert figure(Decimal("1234.5678")) == '<span class="exact" title="1234.567800">1,234.57</span>'
    assert amount(None) == "—"
