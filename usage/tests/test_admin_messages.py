"""Refused input in the admin answers with one sentence, never a constraint's name; rates read
as typed."""

from decimal import Decimal

import pytest

from billing.tests.factories import FinanceUserFactory, StaffUserFactory, TeamFactory
from usage.models import Meter, MeterRate
from usage.services import cost_center_get_or_create
from usage.tests.factories import WorkspaceClassFactory

pytestmark = pytest.mark.django_db

SENTENCE = "The spending limit cannot be negative; use 0 to block all billable usage."


def test_a_negative_limit_is_refused_with_a_sentence_printed_once(client):
    client.force_login(FinanceUserFactory())
    team = TeamFactory(name="Globex Corporation")
    cost_center = cost_center_get_or_create(attribution_id=team.attribution_id)
    response = client.post(
        f"/admin/usage/costcenter/{cost_center.pk}/change/",
        {
            "spending_limit": "-5",
            "billing_strategy": "other",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200  # the form again, not a redirect
    assert html.count(SENTENCE) == 1
    assert "costcenter_limit_not_negative" not in html and "is violated" not in html
    assert "was changed successfully" not in html
    cost_center.refresh_from_db()
    assert cost_center.spending_limit >= 0


def test_a_negative_workspace_rate_is_refused_with_a_sentence():
    workspace_class = WorkspaceClassFactory.build(credits_per_minute=Decimal("-1"))
    with pytest.raises(Exception) as refused:
        workspace_class.full_clean()
    assert "Credits per minute cannot be negative; use 0 for a free class." in str(refused.value)


def test_rates_show_without_trailing_zeros_and_the_exact_value_on_hover(client):
    client.force_login(StaffUserFactory())
    WorkspaceClassFactory(slug="standard", credits_per_minute=Decimal("0.0002"))
    html = client.get("/admin/usage/workspaceclass/").content.decode()
    assert 'title="0.000200000000000">0.0002<' in html

    meter = Meter.objects.create(slug="api-calls", unit="calls")
    MeterRate.objects.create(
        meter=meter, effective_from="2026-01-01T00:00Z", credits_per_unit=Decimal("0.0015")
    )
    form = client.get(f"/admin/usage/meter/{meter.pk}/change/").content.decode()
    assert 'value="0.0015"' in form and "0.001500000000000" not in form


def test_finance_reads_rates_normalized_too(client):
    client.force_login(FinanceUserFactory())
    meter = Meter.objects.create(slug="gpu-seconds", unit="seconds")
    MeterRate.objects.create(
        meter=meter, effective_from="2026-01-01T00:00Z", credits_per_unit=Decimal("0.25")
    )
    page = client.get(f"/admin/usage/meter/{meter.pk}/change/").content.decode()
    assert ">0.25<" in page and "0.250000000000000<" not in page
