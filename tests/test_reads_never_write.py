"""Reads never write: every GET in the OpenAPI schema and the team's pages, for an attribution
that has never been used (no cost center, no ledger), run no INSERT, UPDATE or DELETE and leave
the row count of every model as it was."""

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from billing.models import Membership
from billing.tests.factories import MembershipFactory, TeamFactory, UserFactory
from traffic.tests.factories import traffic_account
from usage.models import Meter

WRITES = ("INSERT", "UPDATE", "DELETE")
OUR_APPS = ("core", "audit", "usage", "credits", "billing")
# The session middleware may refresh the caller's own session row; that is the login, not the read.
IGNORED_TABLES = ('"django_session"',)


def _get_paths() -> list[str]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(path for path, item in schema["paths"].items() if "get" in item)


def _row_counts() -> dict[str, int]:
    return {
        model._meta.label: model.objects.count()
        for model in apps.get_models()
        if model._meta.app_label in OUR_APPS and model._meta.managed
    }


def _writes(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(WRITES) and not any(t in q["sql"] for t in IGNORED_TABLES)
    ]


@pytest.fixture
def fresh(db):
    """A team that has never been used, its owner signed in, and the names its paths need."""
    team = TeamFactory()
    owner = UserFactory()
    MembershipFactory(team=team, user=owner, role=Membership.Role.OWNER)
    meter = Meter.objects.order_by("slug").first() or Meter.objects.create(slug="api-calls", unit="calls")
    account = traffic_account(attribution_id=team.attribution_id)
    client = Client()
    client.force_login(owner)
    client.get("/api/v1/me")  # the session exists before anything is measured
    values = {
        "{attribution_id}": team.attribution_id,
        "{key}": "credits",
        "{feature_key}": "credits",
        "{slug}": meter.slug,
    }
    query = {"attribution_id": team.attribution_id, "account_uuid": str(account.account_uuid)}
    return team, client, values, query


def test_no_get_writes_for_a_fresh_attribution(fresh, settings):
    team, client, values, query = fresh
    internal = Client(headers={"Authorization": f"Bearer {settings.INTERNAL_SERVICE_TOKEN}"})
    urls = []
    for template in _get_paths():
        path = template
        for name, value in values.items():
            path = path.replace(name, value)
        urls.append(path)
    pages = [
        reverse("billing:team-billing", args=[team.slug]),
        reverse("billing:team-usage-csv", args=[team.slug]),
    ]
    before = _row_counts()
    answered = {}
    with CaptureQueriesContext(connection) as captured:
        for url in urls:
            for caller in (internal, client):
                answered[(url, caller is client)] = caller.get(url, query).status_code
        for url in pages:
            response = client.get(url)
            b"".join(response.streaming_content if response.streaming else [response.content])
            answered[(url, True)] = response.status_code

    assert _writes(captured.captured_queries) == []
    assert _row_counts() == before
    # The probe reached the views (a 500 or only 4xx would prove nothing).
    assert all(status < 500 for status in answered.values()), answered
    assert answered[(f"/api/v1/cost-centers/{team.attribution_id}", False)] == 200
    assert answered[(pages[0], True)] == 200
