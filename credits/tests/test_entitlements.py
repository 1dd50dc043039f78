"""Entitlements: access while grants have credit, or the spending limit is not reached; never when blocked."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from credits.selectors import entitlement_value
from credits.services import feature_create, grant_create
from credits.tests.factories import T0, rated_usage
from usage.services import cost_center_get_or_create, cost_center_set

pytestmark = pytest.mark.django_db

NOW = T0 + timedelta(days=2)


def value(who, key="credits"):
    return entitlement_value(attribution_id=who, feature_key=key, at=NOW)


def test_grants_left_mean_access_even_over_the_limit(team):
    who = team.attribution_id
    cost_center_set(attribution_id=who, spending_limit="10")
    grant_create(attribution_id=who, amount="100", effective_at=T0)
    rated_usage(who, 60, T0 + timedelta(hours=1))

    got = value(who)

    assert (got.has_access, got.balance, got.usage, got.overage) == (
        True,
        Decimal(40),
        Decimal(60),
        Decimal(0),
    )


def test_spent_grants_and_a_reached_limit_deny_access(team):
    who = team.attribution_id
    cost_center_set(attribution_id=who, spending_limit="10")
    grant_create(attribution_id=who, amount="100", effective_at=T0)
    rated_usage(who, 120, T0 + timedelta(hours=1))

    got = value(who)

    assert (got.has_access, got.balance, got.overage) == (False, Decimal(0), Decimal(20))


def test_spent_grants_under_the_limit_still_have_access(team):
    who = team.attribution_id
    cost_center_set(attribution_id=who, spending_limit="1000")
    grant_create(attribution_id=who, amount="100", effective_at=T0)
    rated_usage(who, 120, T0 + timedelta(hours=1))

    assert value(who).has_access is True


def test_no_cost_center_is_held_to_the_default_limit(settings, team):
    settings.TALLY_DEFAULT_SPENDING_LIMIT = "50"
    rated_usage(team.attribution_id, 49, T0)
    assert value(team.attribution_id).has_access is True
    rated_usage(team.attribution_id, 1, T0)
    assert value(team.attribution_id).has_access is False


def test_a_blocked_cost_center_denies_access_whatever_is_left(team):
    who = team.attribution_id
    grant_create(attribution_id=who, amount="100", effective_at=T0)
    cost_center = cost_center_get_or_create(attribution_id=who)
    cost_center.blocked_at = timezone.now()
    cost_center.save(update_fields=["blocked_at"])

    assert value(who).has_access is False


def test_a_feature_without_grants_is_all_overage(team):
    feature_create(key="seats", meter_slug="credits")
    rated_usage(team.attribution_id, 7, T0)

    got = value(team.attribution_id, "seats")

    assert (got.balance, got.usage, got.overage) == (Decimal(0), Decimal(7), Decimal(7))


def test_the_http_answer(internal_client, team_key_client, team):
    who = team.attribution_id
    cost_center_set(attribution_id=who, spending_limit="10")
    grant_create(attribution_id=who, amount="100", effective_at=T0)
    rated_usage(who, 120, T0 + timedelta(hours=1))

    for client in (internal_client, team_key_client):
        response = client.get(f"/api/v1/entitlements/{who}/credits")
        assert response.json() == {
            "has_access": False,
            "feature": "credits",
            "unit": "credits",
            "balance": "0.000000",
            "usage": "120.000000",
            "overage": "20.000000",
        }
