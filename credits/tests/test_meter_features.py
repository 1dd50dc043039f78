"""A feature on a usage meter: its grants burn the meter's units, read through usage.selectors."""

from datetime import timedelta

import orjson
import pytest
from django.utils import timezone

from core.timeutils import format_rfc3339
from usage.models import Meter
from usage.tests.factories import new_attribution_id

pytestmark = pytest.mark.django_db


def send_samples(client, who, key, samples, at):
    response = client.post(
        "/api/v1/events",
        orjson.dumps(
            [
                {
                    "unique_key": key,
                    "attribution_id": who,
                    "occurred_at": format_rfc3339(at),
                    "amounts": {"samples": samples},
                }
            ]
        ),
        content_type="application/json",
    )
    assert response.status_code == 200, response.json()


def test_a_meter_feature_burns_units(internal_client):
    Meter.objects.get_or_create(slug="samples", defaults={"unit": "samples"})
    who = new_attribution_id()
    now = timezone.now().replace(second=0, microsecond=0)
    internal_client.post("/api/v1/features", {"key": "ingest", "meter_slug": "samples"}, format="json")
    grant = internal_client.post(
        f"/api/v1/ledgers/{who}/grants",
        {"feature": "ingest", "amount": "100", "effective_at": format_rfc3339(now - timedelta(hours=3))},
        format="json",
    ).json()
    send_samples(internal_client, who, "a", 30, now - timedelta(hours=4))  # before the grant: paid later
    send_samples(internal_client, who, "b", 50, now - timedelta(hours=1))
    send_samples(internal_client, who, "c", 40, now - timedelta(minutes=30))

    balance = internal_client.get(f"/api/v1/ledgers/{who}/balance").json()
    entitlement = internal_client.get(f"/api/v1/entitlements/{who}/ingest").json()

    assert {g["id"]: g["balance"] for g in balance["grants"]} == {grant["id"]: "0.000000"}
    assert balance["features"]["ingest"] == {
        "unit": "samples",
        "meter_slug": "samples",
        "balance": "0.000000",
        "usage": "120.000000",
        "overage": "20.000000",
    }
    assert (entitlement["unit"], entitlement["balance"], entitlement["usage"], entitlement["overage"]) == (
        "samples",
        "0.000000",
        "120.000000",
        "20.000000",
    )
