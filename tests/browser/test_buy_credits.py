"""An owner buys credits in headless Chromium: the team page, the local Stripe stand-in's TEST
MODE checkout page, Pay, and back on the team page with the receipt and the credits."""

import pytest

from billing.models import CreditPurchase
from billing.services.stripe_ops import customer_create
from billing.tests.factories import DEFAULT_PASSWORD
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme_pays_in_eur(stripe_fake, team, owner, reference_data, live_server, stripe_webhook_endpoint):
    customer_create(
        attribution_id=team.attribution_id, currency="eur", email="billing@acme.test", name="Acme"
    )
    stripe_fake.webhook_url = f"{live_server.url}/stripe/webhook/{stripe_webhook_endpoint.djstripe_uuid}/"
    stripe_fake.webhook_secret = stripe_webhook_endpoint.secret
    return stripe_fake


def test_an_owner_buys_500_credits_pays_in_test_mode_and_sees_them(page, team, acme_pays_in_eur):
    sign_in(page, "alice", DEFAULT_PASSWORD)
    page.goto(f"/teams/{team.slug}/billing/")
    page.get_by_role("button", name="500.00 credits · €180.00").click()

    page.wait_for_selector("#test-mode")
    assert page.url.startswith(f"{acme_pays_in_eur.url}/pay/cs_test_")
    assert "TEST MODE — Tally's local Stripe stand-in" in page.locator("#test-mode").inner_text()
    assert page.locator("#amount").inner_text() == "180.00 EUR"
    page.get_by_role("button", name="Pay 180.00 EUR").click()

    page.wait_for_selector("#purchase-message")
    assert page.url.endswith(f"/teams/{team.slug}/billing/?purchase=paid")
    assert "Payment received" in page.locator("#purchase-message").inner_text()
    purchase = CreditPurchase.objects.get()
    row = page.locator(f'#purchases tr[data-purchase="{purchase.pk}"]')
    assert row.get_attribute("data-status") == "paid"
    assert "Paid (credits granted)" in row.inner_text()
    assert row.locator("td.remaining .exact").get_attribute("title") == "500.000000"
    assert page.locator('#left .left[data-kind="top-up"] .figure').inner_text() == "500.00 credits"
