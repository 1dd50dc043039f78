"""The demo's Stripe in test mode: dj-stripe's rows for the local stand-ins, and Acme's customer.

`make demo` runs localstripe and Tally's Stripe stand-in (devtools.stripe_standin) on loopback
and points Tally at them; nothing here reaches Stripe itself. The webhook endpoint has a fixed
uuid and secret so the stand-ins can be told where to deliver before the seed runs.
"""

import stripe
from django.conf import settings
from djstripe.models import Account, WebhookEndpoint
from djstripe.models import APIKey as StripeAPIKey

from devtools.stripe_standin import DEMO_WEBHOOK_SECRET, DEMO_WEBHOOK_UUID, webhook_path

DEMO_ACCOUNT_ID = "acct_1TallyDemoTestMode"
DEMO_CARD = "4242424242424242"  # Stripe's test card: always succeeds


def ensure_stripe_rows() -> WebhookEndpoint:
    """The Account and API key rows dj-stripe needs, and the webhook endpoint the stand-ins sign for."""
    account, _ = Account.objects.get_or_create(
        id=DEMO_ACCOUNT_ID,
        defaults={
            "livemode": False,
            "stripe_data": {
                "id": DEMO_ACCOUNT_ID,
                "object": "account",
                "business_profile": {"name": "Tally demo (test mode)"},
                "charges_enabled": True,
                "country": "DE",
                "default_currency": "eur",
                "details_submitted": True,
                "payouts_enabled": True,
                "settings": {"dashboard": {"display_name": "Tally demo"}},
                "type": "standard",
            },
        },
    )
    if not StripeAPIKey.objects.filter(secret=settings.STRIPE_TEST_SECRET_KEY).exists():
        StripeAPIKey.objects.create(
            secret=settings.STRIPE_TEST_SECRET_KEY,
            type="secret",
            livemode=False,
            djstripe_owner_account=account,
        )
    endpoint = WebhookEndpoint.objects.filter(djstripe_uuid=DEMO_WEBHOOK_UUID).first()
    if endpoint is None:
        url = f"http://127.0.0.1{webhook_path()}"
        endpoint = WebhookEndpoint.objects.create(
            id="we_tallydemotestmode",
            livemode=False,
            stripe_data={
                "id": "we_tallydemotestmode",
                "object": "webhook_endpoint",
                "livemode": False,
                "api_version": "",
                "application": "",
                "description": "Tally demo (local Stripe stand-ins)",
                "enabled_events": ["*"],
                "metadata": {"djstripe_uuid": str(DEMO_WEBHOOK_UUID)},
                "status": "enabled",
                "url": url,
            },
            url=url,
            api_version="",
            application="",
            enabled_events=["*"],
            status="enabled",
            secret=DEMO_WEBHOOK_SECRET,
            djstripe_uuid=DEMO_WEBHOOK_UUID,
            djstripe_owner_account=account,
        )
    return endpoint


def ensure_customer_with_card(*, attribution_id: str, email: str, name: str) -> str:
    """The team's Stripe customer (EUR) with a saved test card as its default payment method."""
    from billing.selectors import customer_for_attribution
    from billing.services.stripe_ops import customer_create
    from billing.stripe_gateway import client_kwargs

    kwargs = client_kwargs()
    customer = customer_for_attribution(attribution_id)
    if customer is not None:
        try:
            stripe.Customer.retrieve(customer.id, **kwargs)
        except stripe.InvalidRequestError:
            # localstripe keeps its data in memory: a new demo run starts it empty, so the
            # previous run's customer is gone there. Forget the local copy and make it again.
            customer.delete()
            customer = None
    if customer is None:
        customer = customer_create(attribution_id=attribution_id, currency="eur", email=email, name=name)
    remote = stripe.Customer.retrieve(customer.id, **kwargs).to_dict()
    if not (remote.get("invoice_settings") or {}).get("default_payment_method"):
        method = stripe.PaymentMethod.create(
            type="card", card={"number": DEMO_CARD, "exp_month": 12, "exp_year": 2099, "cvc": "123"}, **kwargs
        )
        stripe.PaymentMethod.attach(method["id"], customer=customer.id, **kwargs)
        stripe.Customer.modify(
            customer.id, invoice_settings={"default_payment_method": method["id"]}, **kwargs
        )
    return customer.id
