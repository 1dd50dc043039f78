import pytest
from django.conf import settings


@pytest.mark.django_db
def test_stripe_account_fixture_gives_dj_stripe_its_key(stripe_account):
    from djstripe.models import APIKey
    from djstripe.settings import djstripe_settings

    key = APIKey.objects.get(secret=settings.STRIPE_TEST_SECRET_KEY)
    assert key.djstripe_owner_account_id == stripe_account.id
    assert key.livemode is False
    assert djstripe_settings.get_default_api_key(livemode=False) == settings.STRIPE_TEST_SECRET_KEY
    assert settings.DJSTRIPE_FOREIGN_KEY_TO_FIELD == "id"


@pytest.mark.django_db
def test_webhook_route_is_mounted_and_refuses_unsigned_posts(client, stripe_webhook_endpoint):
    from djstripe.models import Event, WebhookEventTrigger

    url = f"/stripe/webhook/{stripe_webhook_endpoint.djstripe_uuid}/"
    body = '{"id": "evt_1", "object": "event", "type": "invoice.paid"}'

    unsigned = client.post(url, data=body, content_type="application/json")
    assert unsigned.status_code == 400
    assert WebhookEventTrigger.objects.count() == 0  # dj-stripe does not even store these

    forged = client.post(
        url, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE="t=1,v1=deadbeef"
    )
    assert forged.status_code == 400
    trigger = WebhookEventTrigger.objects.get()
    assert trigger.valid is False
    assert Event.objects.count() == 0
