"""The team billing page: the numbers a member sees, and who may see them."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from credits.services.grants import grant_create
from usage.services import cost_center_get_or_create, cost_center_set
from usage.tests.factories import UsageEntryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ten_days_of_usage(team):
    now = timezone.now()
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


def test_a_member_sees_balance_billable_limit_grants_and_chart(client, team, member, ten_days_of_usage):
    client.force_login(member)
    page = client.get(f"/teams/{team.slug}/billing/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="balance">90.000000<' in html
    assert 'id="billable">40.000000<' in html  # 90 used, 50 paid by the grant
    assert 'id="spending-limit">100.000000<' in html
    assert 'aria-valuenow="40"' in html
    assert 'data-days="10"' in html  # cycle started 9 days and an hour ago: 10 calendar days
    assert '<td class="num remaining">0.000000</td>' in html
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
