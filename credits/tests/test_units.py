"""Units that never mix: a feature counts in its own unit, the ledger's totals are credits only.

The worked examples: a team holds a 500-credit welcome grant (no feature: it pays rated usage
credits) and a 10,000-unit `api_calls` grant (a feature on the `api-calls` meter, whose unit
is `calls`). Over a day it uses 200 credits and 2,500 calls.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine

from core.timeutils import format_rfc3339
from credits.models import Ledger
from credits.selectors import FeatureBalance, entitlement_value, ledger_balance
from credits.services import feature_archive, feature_create, grant_create, ledger_reset
from credits.tests.factories import T0, rated_usage
from usage.tests.factories import MeterFactory, meter_usage, new_attribution_id

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
READ_AT = T0 + DAY


@pytest.fixture
def api_calls():
    meter = MeterFactory(slug="api-calls", unit="calls")
    feature_create(key="api_calls", name="API calls", meter_slug="api-calls")
    return meter


@pytest.fixture
def samples():
    # A meter of its own, without a rate: its samples cost no credits (the demo's `samples` has one).
    meter = MeterFactory(slug="ingest-samples", unit="samples")
    feature_create(key="ingest", name="Ingest", meter_slug="ingest-samples")
    return meter


def welcome_and_api_calls(who, api_calls):
    """500 credits and 10,000 calls granted at T0; 200 credits and 2,500 calls used after."""
    grant_create(attribution_id=who, amount="500", effective_at=T0)
    grant_create(attribution_id=who, feature_key="api_calls", amount="10000", effective_at=T0)
    rated_usage(who, 200, T0 + HOUR)
    meter_usage(who, api_calls, 2500, T0 + 2 * HOUR)


# --- (1) credits and meter units side by side ---------------------------------------------------


def test_credits_and_calls_are_never_added(api_calls):
    who = new_attribution_id()
    welcome_and_api_calls(who, api_calls)

    balance = ledger_balance(attribution_id=who, at=READ_AT)

    # The totals are the credits alone: 500 granted - 200 used = 300 credits left.
    assert (balance.unit, balance.balance, balance.usage, balance.overage) == (
        "credits",
        Decimal(300),
        Decimal(200),
        Decimal(0),
    )
    # The calls have their own block: 10,000 granted - 2,500 used = 7,500 calls left.
    assert balance.features["api_calls"] == FeatureBalance(
        key="api_calls",
        unit="calls",
        meter_slug="api-calls",
        balance=Decimal(7500),
        usage=Decimal(2500),
        overage=Decimal(0),
    )
    assert balance.features["credits"].unit == "credits"
    assert balance.features["credits"].balance == Decimal(300)
    # Nothing anywhere says 7,800 (300 credits + 7,500 calls) or 2,700 used.
    assert Decimal(7800) not in (balance.balance, *(f.balance for f in balance.features.values()))
    assert Decimal(2700) not in (balance.usage, *(f.usage for f in balance.features.values()))
    assert [(g.grant.feature_key, g.unit, g.balance) for g in balance.grants] == [
        (None, "credits", Decimal(300)),
        ("api_calls", "calls", Decimal(7500)),
    ]


def test_the_balance_api_names_every_unit(internal_client, api_calls):
    who = new_attribution_id()
    welcome_and_api_calls(who, api_calls)

    body = internal_client.get(f"/api/v1/ledgers/{who}/balance", {"at": format_rfc3339(READ_AT)}).json()

    assert (body["unit"], body["balance"], body["usage"], body["overage"]) == (
        "credits",
        "300.000000",
        "200.000000",
        "0.000000",
    )
    assert list(body["features"]) == ["credits", "api_calls"]
    assert body["features"]["api_calls"] == {
        "unit": "calls",
        "meter_slug": "api-calls",
        "balance": "7500.000000",
        "usage": "2500.000000",
        "overage": "0.000000",
    }
    assert [(g["feature"], g["unit"], g["amount"], g["balance"]) for g in body["grants"]] == [
        (None, "credits", "500.000000", "300.000000"),
        ("api_calls", "calls", "10000.000000", "7500.000000"),
    ]


# --- (2) a feature used without a grant ------------------------------------------------------


def test_a_feature_used_without_a_grant_owes_its_own_units(api_calls, samples):
    # 500 credits and 10,000 calls as above, and 40 samples sent although no grant covers ingest.
    who = new_attribution_id()
    welcome_and_api_calls(who, api_calls)
    meter_usage(who, samples, 40, T0 + 3 * HOUR)

    balance = ledger_balance(attribution_id=who, at=READ_AT)

    assert balance.features["ingest"] == FeatureBalance(
        key="ingest",
        unit="samples",
        meter_slug="ingest-samples",
        balance=Decimal(0),
        usage=Decimal(40),
        overage=Decimal(40),
    )
    # The 40 samples owed are not 40 credits owed: the credits overage stays 0.
    assert (balance.usage, balance.overage) == (Decimal(200), Decimal(0))
    assert list(balance.features) == ["credits", "api_calls", "ingest"]


def test_without_any_grant_the_overage_is_split_by_unit(internal_client, samples):
    # No ledger at all: 50 credits and 40 samples used, every bit of it owed, each in its unit.
    who = new_attribution_id()
    rated_usage(who, 50, T0 + HOUR)
    meter_usage(who, samples, 40, T0 + 2 * HOUR)

    body = internal_client.get(f"/api/v1/ledgers/{who}/balance", {"at": format_rfc3339(READ_AT)}).json()

    assert (body["unit"], body["usage"], body["overage"]) == ("credits", "50.000000", "50.000000")
    assert body["features"]["ingest"] == {
        "unit": "samples",
        "meter_slug": "ingest-samples",
        "balance": "0.000000",
        "usage": "40.000000",
        "overage": "40.000000",
    }
    assert body["grants"] == []


def test_a_feature_is_listed_only_for_usage_in_the_period(samples):
    # 40 samples on day one, a reset on day two: the new period has no samples, so no ingest block.
    who = new_attribution_id()
    meter_usage(who, samples, 40, T0 + HOUR)
    ledger_reset(attribution_id=who, effective_at=T0 + DAY, now=T0 + DAY)

    assert "ingest" in ledger_balance(attribution_id=who, at=T0 + DAY - HOUR).features
    assert "ingest" not in ledger_balance(attribution_id=who, at=T0 + DAY + HOUR).features


def test_an_archived_feature_without_a_grant_is_not_listed(samples):
    who = new_attribution_id()
    meter_usage(who, samples, 40, T0 + HOUR)
    feature_archive(key="ingest", now=T0)

    assert list(ledger_balance(attribution_id=who, at=READ_AT).features) == ["credits"]


def test_a_meter_naming_no_unit_counts_in_its_slug():
    # A meter with a blank unit, and a feature on a meter that does not exist (yet): the slug
    # is the unit's name, so a figure is never shown without one.
    MeterFactory(slug="api_calls", unit="")
    feature_create(key="calls", meter_slug="api_calls")
    feature_create(key="future", meter_slug="not-a-meter-yet")
    who = new_attribution_id()
    grant_create(attribution_id=who, feature_key="calls", amount="100", effective_at=T0)
    grant_create(attribution_id=who, feature_key="future", amount="5", effective_at=T0)

    balance = ledger_balance(attribution_id=who, at=READ_AT)

    units = {key: feature.unit for key, feature in balance.features.items()}
    assert units == {"credits": "credits", "calls": "api_calls", "future": "not-a-meter-yet"}
    assert balance.balance == Decimal(0)  # 100 api_calls and 5 future units are no credits


# --- (3) entitlements answer in the feature's units -------------------------------------------


def test_the_entitlement_of_a_meter_feature_is_in_its_units(api_calls):
    who = new_attribution_id()
    welcome_and_api_calls(who, api_calls)

    calls = entitlement_value(attribution_id=who, feature_key="api_calls", at=READ_AT)
    credits = entitlement_value(attribution_id=who, feature_key="credits", at=READ_AT)

    assert (calls.unit, calls.balance, calls.usage, calls.overage) == (
        "calls",
        Decimal(7500),
        Decimal(2500),
        Decimal(0),
    )
    assert (credits.unit, credits.balance, credits.usage, credits.overage) == (
        "credits",
        Decimal(300),
        Decimal(200),
        Decimal(0),
    )


def test_the_entitlement_api_of_a_feature_without_a_grant(internal_client, samples):
    # 40 samples and no ingest grant: 40 samples owed (not credits), nothing left.
    who = new_attribution_id()
    meter_usage(who, samples, 40, T0 + HOUR)

    with time_machine.travel(READ_AT, tick=False):
        body = internal_client.get(f"/api/v1/entitlements/{who}/ingest").json()

    assert {k: body[k] for k in ("feature", "unit", "balance", "usage", "overage")} == {
        "feature": "ingest",
        "unit": "samples",
        "balance": "0.000000",
        "usage": "40.000000",
        "overage": "40.000000",
    }


# --- the admin shows each figure with its unit ------------------------------------------------


def test_the_admin_ledger_shows_credits_and_calls_apart(client, staff_user, api_calls):
    client.force_login(staff_user)
    staff = client
    who = new_attribution_id()
    with time_machine.travel(READ_AT, tick=False):
        welcome_and_api_calls(who, api_calls)
        ledger_pk = Ledger.objects.get(attribution_id=who).pk
        listing = staff.get("/admin/credits/ledger/").content.decode()
        page = staff.get(f"/admin/credits/ledger/{ledger_pk}/change/").content.decode()

    assert "300.000000 credits" in listing
    assert "7500.000000 calls (api_calls)" in listing
    assert "credits (credits): balance <b>300.000000</b> · usage this period 200.000000" in page
    assert "api_calls (calls): balance <b>7500.000000</b> · usage this period 2500.000000" in page
    assert "10000.000000 calls" in page  # the grant's amount, in its unit
    assert "7800.000000" not in listing + page
