"""`manage.py demo_seed` (what `make demo` loads): safe to run twice, and its keys work as printed."""

import json

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from billing.models import Team
from core.models import APIKey
from credits.models import Grant


def seed(settings, tmp_path) -> dict:
    settings.VAR_DIR = tmp_path
    call_command("demo_seed", stdout=open("/dev/null", "w"))  # noqa: SIM115
    return json.loads((tmp_path / "demo-credentials.json").read_text())


def me(raw_key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client.get("/api/v1/me")


@pytest.mark.django_db
def test_demo_seed_twice_stores_things_once_and_prints_working_keys(settings, tmp_path, reference_data):
    first = seed(settings, tmp_path)
    acme = Team.objects.get(slug="acme")
    grants_after_first = Grant.objects.filter(ledger__attribution_id=acme.attribution_id).count()

    second = seed(settings, tmp_path)

    # Acme's two grants (150 prepaid, 50 promotional) are not granted again.
    assert grants_after_first == 2
    assert Grant.objects.filter(ledger__attribution_id=acme.attribution_id).count() == 2
    # The fresh key reaches Acme; the revoked one and the first run's key no longer do.
    response = me(second["team_api_key"])
    assert response.status_code == 200
    assert response.json()["attribution_ids"] == [acme.attribution_id]
    assert me(second["revoked_api_key"]).status_code == 401
    assert me(first["team_api_key"]).status_code == 401
    assert APIKey.objects.filter(attribution_id=acme.attribution_id, revoked_at=None).count() == 1
    assert (tmp_path / "demo-credentials.json").stat().st_mode & 0o777 == 0o600
