"""The invoice preview and the team's own budget, as worked examples; the page and the API agree.

Given a cycle that started ten days ago, a prepaid grant of 100 (priority 10), an allowance of
200 every cycle (priority 5), 300 credits of workspace usage and 150 of meter usage: the
allowance pays 200, the prepaid grant 100, so 150 credits are billable; at 0.36 EUR a credit
that is 54.00 EUR (5,400 cents).
"""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from billing.services.cycles import cycle_close
from core.months import add_months
from credits.selectors.entitlements import spending_limit_reached
from credits.services.allowances import allowance_template_create
from credits.services.grants import grant_create
from usage.models import CostCenter, CostCenterVersion, UsageEntry
from usage.services import cost_center_get_or_create, cost_center_set
from usage.tests.factories import UsageEntryFactory

pytestmark = pytest.mark.django_db

PREPAID_100, ALLOWANCE_200 = Decimal("100"), Decimal("200")
WORKSPACE_300, METER_150 = Decimal("300"), Decimal("150")
FINANCE_LIMIT_1000 = Decimal("1000")
BILLABLE_150 = WORKSPACE_300 + METER_150 - ALLOWANCE_200 - PREPAID_100
CENTS_PER_CREDIT = 36


def with_eur_price(settings, team):
    """dj-stripe's local copy of a 0.36 EUR price and the team's Stripe customer in EUR."""
    from djstripe.models import Customer, Price, Product

    settings.STRIPE_PRICE_IDS = {"eur": "price_eur"}
    Customer.objects.create(
        id="cus_acme",
        livemode=False,
        metadata={"attributionId": team.attribution_id, "preferredCurrency": "eur"},
    )
    product = Product.objects.create(id="prod_credits", livemode=False, stripe_data={"id": "prod_credits"})
    Price.objects.create(
        id="price_eur",
        livemode=False,
        product=product,
        currency="eur",
        active=True,
        stripe_data={"id": "price_eur", "currency": "eur", "unit_amount": 36, "unit_amount_decimal": "36"},
    )


@pytest.fixture
def worked_example(team):
    start = timezone.now() - timedelta(days=10)
    who = team.attribution_id
    cost_center_get_or_create(attribution_id=who, now=start)
    cost_center_set(attribution_id=who, spending_limit=FINANCE_LIMIT_1000, now=start)
    grant_create(
        attribution_id=who,
        amount=PREPAID_100,
        priority=10,
        effective_at=start,
        metadata={"kind": "prepaid", "name": "Prepaid pack"},
        now=start,
    )
    allowance_template_create(
        attribution_id=who, amount=ALLOWANCE_200, name="Team plan", priority=5, now=start
    )
    UsageEntryFactory(
        attribution_id=who, kind="workspace", credits=WORKSPACE_300, effective_time=start + timedelta(days=2)
    )
    UsageEntryFactory(
        attribution_id=who, kind="meter", credits=METER_150, effective_time=start + timedelta(days=3)
    )
    return start


def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def page_figures(html: str) -> dict[str, str]:
    """Every figure of the preview card: its element id and the exact value in its title."""
    pattern = r'id="upcoming-([a-z-]+)"><span class="exact" title="(-?[\d.]+)">'
    return dict(re.findall(pattern, html))


def test_the_preview_of_the_worked_example(team, member, worked_example, settings):
    with_eur_price(settings, team)
    settings.STRIPE_AUTOMATIC_TAX = True

    answer = api(member).get(f"/api/v1/billing/{team.attribution_id}/upcoming")

    assert answer.status_code == 200
    body = answer.json()
    assert body["usage"] == {
        "workspace": "300.000000",
        "meter": "150.000000",
        "traffic": "0.000000",
        "total": "450.000000",
    }
    assert body["credits_applied"] == {
        "prepaid": "100.000000",
        "promotional": "0.000000",
        "allowance": "200.000000",
        "top-up": "0.000000",
        "total": "300.000000",
    }
    assert Decimal(body["billable_credits"]) == BILLABLE_150
    assert Decimal(body["billed_credits"]) == BILLABLE_150  # `other`, under the limit of 1,000
    assert (body["currency"], body["amount_minor"]) == ("eur", int(BILLABLE_150 * CENTS_PER_CREDIT))
    assert body["capped"] is False
    # `other` is invoiced by finance, not through Stripe: Stripe computes no tax on it.
    assert (body["estimated"], body["tax_note"]) == (False, None)
    assert body["time_zone"] == "UTC"


def test_the_page_and_the_api_agree_on_every_figure(client, team, member, worked_example, settings):
    with_eur_price(settings, team)
    client.force_login(member)

    html = client.get(f"/teams/{team.slug}/billing/").content.decode()
    body = api(member).get(f"/api/v1/billing/{team.attribution_id}/upcoming").json()

    shown = page_figures(html)
    from_api = {f"usage-{kind}": value for kind, value in body["usage"].items()}
    from_api |= {
        f"applied-{kind}": value for kind, value in body["credits_applied"].items() if kind != "total"
    }
    from_api |= {"billable": body["billable_credits"], "billed": body["billed_credits"]}
    assert shown == from_api
    assert f'data-minor="{body["amount_minor"]}" data-currency="eur">€54.00</span>' in html
    assert "If the cycle closed now" in html
    # The allowance line and the grant's kind.
    assert "Every cycle: " in html and "(allowance “Team plan”, expires at cycle end, priority 5)" in html
    assert re.search(r'data-kind="allowance"><td>Team plan</td>', html)


def test_a_stripe_cost_center_is_billed_whole_credits_and_estimated_before_tax(team, member, settings):
    with_eur_price(settings, team)
    settings.STRIPE_AUTOMATIC_TAX = True
    start = timezone.now() - timedelta(days=3)
    cost_center_get_or_create(attribution_id=team.attribution_id, now=start)
    cost_center_set(attribution_id=team.attribution_id, billing_strategy="stripe", now=start)
    UsageEntryFactory(
        attribution_id=team.attribution_id, credits=Decimal("10.2"), effective_time=start + timedelta(days=1)
    )

    body = api(member).get(f"/api/v1/billing/{team.attribution_id}/upcoming").json()

    assert body["billable_credits"] == "10.200000"
    assert body["billed_credits"] == "11.000000"  # the meter is reported as ceil(billable)
    assert body["amount_minor"] == 11 * CENTS_PER_CREDIT
    assert body["estimated"] is True and "Stripe computes tax" in body["tax_note"]


def test_without_a_price_the_preview_has_no_money_and_says_why(team, member, worked_example):
    body = api(member).get(f"/api/v1/billing/{team.attribution_id}/upcoming").json()
    assert (body["currency"], body["amount_minor"]) == (None, None)
    assert body["money_unavailable"] == "The team has no Stripe customer yet: no currency to price in."


def test_an_other_invoice_is_capped_at_the_team_budget_and_the_preview_shows_both(
    client, team, owner, worked_example
):
    budget_100 = Decimal("100")
    answer = api(owner).put(
        f"/api/v1/billing/{team.attribution_id}/budget", {"team_budget": "100"}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["effective_limit"] == "100.000000"

    body = api(owner).get(f"/api/v1/billing/{team.attribution_id}/upcoming").json()
    assert (body["capped"], Decimal(body["billable_credits"]), Decimal(body["billed_credits"])) == (
        True,
        BILLABLE_150,
        budget_100,
    )
    client.force_login(owner)
    html = client.get(f"/teams/{team.slug}/billing/").content.decode()
    assert "Invoice capped at the limit" in html and 'title="150.000000">150.00</span> credits)' in html

    # The close invoices what the preview said: 100 of the 150, the budget being the cap.
    closed = cycle_close(
        attribution_id=team.attribution_id, now=add_months(worked_example, 1) + timedelta(minutes=1)
    )
    assert closed.invoiced == budget_100
    assert UsageEntry.objects.get(attribution_id=team.attribution_id, kind="invoice").credits == -budget_100


# -- the team's budget ------------------------------------------------------------------------


def test_an_owner_sets_a_budget_under_finances_limit_and_it_is_recorded(team, owner, worked_example):
    who = team.attribution_id
    answer = api(owner).put(f"/api/v1/billing/{who}/budget", {"team_budget": "300"}, format="json")

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["spending_limit"], body["team_budget"], body["effective_limit"], body["applies"]) == (
        "1000.000000",
        "300.000000",
        "300.000000",
        "team_budget",
    )
    assert "is refused" in body["at_the_limit"] and "300.00 credits" in body["at_the_limit"]
    version = CostCenterVersion.objects.filter(cost_center__attribution_id=who).order_by("-id").first()
    assert (version.team_budget, version.reason, version.changed_by) == (
        Decimal("300"),
        "team budget set to 300.000000",
        "alice",
    )
    event = AuditEvent.objects.get(action="cost_center.team_budget_set", attribution_id=who)
    assert (event.before["team_budget"], event.after["team_budget"]) == (None, "300.000000")
    cost_center = api(owner).get(f"/api/v1/cost-centers/{who}").json()
    assert (cost_center["team_budget"], cost_center["effective_limit"]) == ("300.000000", "300.000000")
    billable = api(owner).get(f"/api/v1/billing/{who}/billable").json()
    assert (billable["team_budget"], billable["effective_limit"]) == ("300.000000", "300.000000")

    cleared = api(owner).put(f"/api/v1/billing/{who}/budget", {"team_budget": None}, format="json").json()
    assert (cleared["team_budget"], cleared["effective_limit"]) == (None, "1000.000000")


@pytest.mark.parametrize(
    ("value", "code"),
    [("1000.000001", "budget_above_limit"), ("-1", "negative_team_budget"), ("lots", "invalid_request")],
)
def test_a_refused_budget_is_a_400_and_stores_nothing(team, owner, worked_example, value, code):
    who = team.attribution_id
    versions = CostCenterVersion.objects.filter(cost_center__attribution_id=who).count()

    answer = api(owner).put(f"/api/v1/billing/{who}/budget", {"team_budget": value}, format="json")

    assert answer.status_code == 400
    if code != "invalid_request":
        assert answer.json()["error"] == code
    if code == "budget_above_limit":
        assert "1000.000001" in answer.json()["message"] and "1000.000000" in answer.json()["message"]
    assert CostCenter.objects.get(attribution_id=who).team_budget is None
    assert CostCenterVersion.objects.filter(cost_center__attribution_id=who).count() == versions


def test_members_and_team_keys_may_read_the_budget_but_not_set_it(team, member, team_key_client, other_team):
    who = team.attribution_id
    for caller in (api(member), team_key_client):
        assert caller.get(f"/api/v1/billing/{who}/budget").status_code == 200
        refused = caller.put(f"/api/v1/billing/{who}/budget", {"team_budget": "1"}, format="json")
        assert (refused.status_code, refused.json()["error"]) == (403, "owner_required")
    assert team_key_client.get(f"/api/v1/billing/{other_team.attribution_id}/budget").status_code == 404


def test_the_entitlement_check_refuses_at_the_budget_not_only_at_finances_limit(team, owner, worked_example):
    who = team.attribution_id
    assert not spending_limit_reached(
        attribution_id=who, cost_center=CostCenter.objects.get(attribution_id=who)
    )

    api(owner).put(f"/api/v1/billing/{who}/budget", {"team_budget": "150"}, format="json")  # = billable

    assert spending_limit_reached(attribution_id=who, cost_center=CostCenter.objects.get(attribution_id=who))
    access = api(owner).get(f"/api/v1/entitlements/{who}/credits").json()
    assert access["has_access"] is False  # the grants are used up and the budget is reached


def test_finance_lowering_its_limit_below_the_budget_wins_and_the_page_says_so(
    client, team, owner, worked_example
):
    who = team.attribution_id
    api(owner).put(f"/api/v1/billing/{who}/budget", {"team_budget": "300"}, format="json")
    cost_center_set(attribution_id=who, spending_limit="200")

    body = api(owner).get(f"/api/v1/billing/{who}/budget").json()
    assert (body["effective_limit"], body["applies"], body["ceiling_below_budget"]) == (
        "200.000000",
        "spending_limit",
        True,
    )
    client.force_login(owner)
    html = client.get(f"/teams/{team.slug}/billing/").content.decode()
    assert 'id="budget-ceiling-below"' in html and "the lower one, finance's, applies" in html
    assert 'id="budget-effective"><span class="exact" title="200.000000">200.00</span>' in html


def test_the_owner_sets_the_budget_on_the_page_and_a_member_cannot(
    client, team, owner, member, worked_example
):
    client.force_login(owner)
    saved = client.post(f"/teams/{team.slug}/billing/budget", {"team_budget": "250"}, follow=True)
    html = saved.content.decode()
    assert "Budget set to 250.00 credits per cycle." in html
    assert 'id="budget-current"><span class="exact" title="250.000000">250.00</span>' in html
    refused = client.post(f"/teams/{team.slug}/billing/budget", {"team_budget": "5000"}, follow=True)
    assert "above the spending limit finance allows" in refused.content.decode()
    assert CostCenter.objects.get(attribution_id=team.attribution_id).team_budget == Decimal("250")

    client.force_login(member)
    assert client.post(f"/teams/{team.slug}/billing/budget", {"team_budget": "1"}).status_code == 404
    page = client.get(f"/teams/{team.slug}/billing/").content.decode()
    assert 'id="budget"' in page and 'name="team_budget"' not in page  # members read, owners set
