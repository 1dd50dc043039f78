"""The authorization matrix: every operation of the OpenAPI schema x every kind of caller.

ONE table (MATRIX) says, for each (method, path template), what each caller kind gets when it
reaches team A's resources (paths and queries filled with team A's attribution and objects of
tests/api_world.py); wherever a row names a team, team A's key is also sent to team B's
objects and must get 404 (or the 403 it gets everywhere for that operation), never 2xx. The
test sends every request over real HTTP to the live server and reports every cell that
differs; a schema operation without a row, or a row naming an operation that no longer exists,
fails too.

Callers: anonymous; a signed-in member of team A, owner of team A, member of team B (browser
sessions, with the CSRF token); team A's API key; a revoked key of team A; a signed-in staff
user; the internal token. Who may call what is DESIGN §11 (see docs/api.md for the departures).

A cell is a status, or (status, error code) where the status alone could mean two things:
e.g. an owner's 404 `no_customer` (allowed; the team has no Stripe customer yet) against a
stranger's 404 `not_found`. Writes send a minimal body that does not validate, so a caller
who is allowed gets a 400 (validation reached) and nothing changes; writes without a body
(jobs, archiving a feature) really run and must be repeatable.

Adding an endpoint: add its row (pick a helper below or spell out the eight cells).
"""

import secrets
from dataclasses import dataclass, field

import pytest
import requests
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from tests.api_world import build_api_world, start_exporter

CALLERS = ("anonymous", "member_a", "owner_a", "member_b", "key_a", "revoked_key", "staff", "internal")


@dataclass(frozen=True)
class Row:
    expect: dict  # caller kind -> status, or (status, error code)
    body: object = None  # JSON body for writes
    query: dict = field(default_factory=dict)  # values may name world attributes: "{attribution_a}"
    path: dict = field(default_factory=dict)  # path parameters other than the defaults below


def cells(anonymous, member_a, owner_a, member_b, key_a, revoked_key, staff, internal) -> dict:
    kinds = (anonymous, member_a, owner_a, member_b, key_a, revoked_key, staff, internal)
    return dict(zip(CALLERS, kinds, strict=True))


def open_to_all(ok=200):
    """No credential needed; one that is sent (even a revoked key) is ignored."""
    return cells(ok, ok, ok, ok, ok, ok, ok, ok)


def any_credential(ok=200):
    """Any valid credential; data that is not per team (features, meters, who am I)."""
    return cells(401, ok, ok, ok, ok, 401, ok, ok)


def team_read(ok=200):
    """Team A's data: its members, its key, staff, internal; team B's member gets 404."""
    return cells(401, ok, ok, 404, ok, 401, ok, ok)


def staff_write(ok=400):
    """Staff and the internal token; everyone else 403 (the permission is checked first)."""
    return cells(401, 403, 403, 403, 403, 401, ok, ok)


def internal_only(ok):
    return cells(401, 403, 403, 403, 403, 401, 403, ok)


def owner_action(ok):
    """Billing actions: team A's owner, staff, internal; a member or a key 403, a stranger 404."""
    return cells(401, (403, "owner_required"), ok, 404, (403, "owner_required"), 401, ok, ok)


NOT_A_TIME = {"effective_at": "not-a-time"}
ACCOUNT = {"account_uuid": "{account_uuid_a}"}

MATRIX: dict[tuple[str, str], Row] = {
    # --- identity and teams
    ("GET", "/api/v1/me"): Row(any_credential()),
    ("GET", "/api/v1/teams"): Row(any_credential()),  # each caller sees its own teams
    ("POST", "/api/v1/teams"): Row(staff_write(), body={}),
    ("GET", "/api/v1/teams/{attribution_id}"): Row(team_read()),
    # --- usage service
    ("PUT", "/api/v1/workspace-instances/{instance_id}"): Row(internal_only(400), body={}),
    ("GET", "/api/v1/cost-centers/{attribution_id}"): Row(team_read()),
    ("PUT", "/api/v1/cost-centers/{attribution_id}"): Row(staff_write(), body={}),
    ("GET", "/api/v1/balance/{attribution_id}"): Row(team_read()),
    ("GET", "/api/v1/usage"): Row(team_read(), query={"attribution_id": "{attribution_a}"}),
    ("POST", "/api/v1/credit-notes"): Row(staff_write(), body={}),
    ("POST", "/api/v1/jobs/reconcile-usage"): Row(staff_write(200)),
    ("POST", "/api/v1/jobs/reset-usage"): Row(staff_write(200)),
    ("POST", "/api/v1/jobs/reconcile-invoices"): Row(staff_write(200)),
    # --- audit trail: staff and internal only, 403 for everyone else (no team's data in the path)
    ("GET", "/api/v1/audit-events"): Row(staff_write(200)),
    # --- billing (Stripe): team A has no Stripe customer and no prices are configured
    ("GET", "/api/v1/billing/{attribution_id}/customer"): Row(owner_action((404, "no_customer"))),
    ("POST", "/api/v1/billing/{attribution_id}/customer"): Row(owner_action(400), body={}),
    ("POST", "/api/v1/billing/{attribution_id}/hold-payment-intent"): Row(owner_action((404, "no_customer"))),
    ("POST", "/api/v1/billing/{attribution_id}/subscription"): Row(owner_action(400), body={}),
    ("DELETE", "/api/v1/billing/{attribution_id}/subscription"): Row(owner_action((404, "no_customer"))),
    ("GET", "/api/v1/billing/{attribution_id}/billable"): Row(team_read()),
    ("GET", "/api/v1/billing/{attribution_id}/price-information"): Row(team_read((404, "no_prices"))),
    # buying credits: the list is team A's; starting one is an owner's (the body {} does not validate)
    ("GET", "/api/v1/billing/{attribution_id}/credit-purchases"): Row(team_read()),
    ("POST", "/api/v1/billing/{attribution_id}/credit-purchases"): Row(owner_action(400), body={}),
    # --- auto-recharge: team A never set one up
    ("GET", "/api/v1/billing/{attribution_id}/auto-recharge"): Row(team_read()),
    ("PUT", "/api/v1/billing/{attribution_id}/auto-recharge"): Row(owner_action(400), body={}),
    ("DELETE", "/api/v1/billing/{attribution_id}/auto-recharge"): Row(
        owner_action((404, "no_auto_recharge"))
    ),
    # --- self-service: invoice preview, the team's budget
    ("GET", "/api/v1/billing/{attribution_id}/upcoming"): Row(team_read()),
    ("GET", "/api/v1/billing/{attribution_id}/budget"): Row(team_read()),
    ("PUT", "/api/v1/billing/{attribution_id}/budget"): Row(owner_action(400), body={}),
    # --- meter events
    ("POST", "/api/v1/events"): Row(
        # The internal token and team keys send events; a browser session may not (403), staff included.
        cells(401, 403, 403, 403, 400, 401, 403, 400),
        body=[],
    ),
    ("GET", "/api/v1/meters"): Row(any_credential()),
    ("GET", "/api/v1/meters/{slug}/usage"): Row(team_read(), query={"attribution_id": "{attribution_a}"}),
    # --- credits
    ("GET", "/api/v1/features"): Row(any_credential()),
    ("POST", "/api/v1/features"): Row(staff_write(), body={}),
    ("GET", "/api/v1/features/{key}"): Row(any_credential()),
    ("DELETE", "/api/v1/features/{key}"): Row(staff_write(204), path={"key": "archive_key"}),  # idempotent
    ("POST", "/api/v1/ledgers"): Row(staff_write(), body={}),
    ("GET", "/api/v1/ledgers/{attribution_id}/grants"): Row(team_read()),
    ("POST", "/api/v1/ledgers/{attribution_id}/grants"): Row(staff_write(), body={}),
    ("POST", "/api/v1/ledgers/{attribution_id}/grants/{grant_id}/void"): Row(
        staff_write(), body={"voided_at": "not-a-time"}
    ),
    ("GET", "/api/v1/ledgers/{attribution_id}/balance"): Row(team_read()),
    ("GET", "/api/v1/ledgers/{attribution_id}/history"): Row(team_read()),
    ("POST", "/api/v1/ledgers/{attribution_id}/reset"): Row(staff_write(), body=NOT_A_TIME),
    ("GET", "/api/v1/entitlements/{attribution_id}/{feature_key}"): Row(team_read()),
    # --- recurring allowances: read by the team, written by staff (team A has allowance_id_a)
    ("GET", "/api/v1/credits/{attribution_id}/allowances"): Row(team_read()),
    ("POST", "/api/v1/credits/{attribution_id}/allowances"): Row(staff_write(), body={}),
    ("PATCH", "/api/v1/credits/{attribution_id}/allowances/{allowance_id}"): Row(staff_write(), body={}),
    ("DELETE", "/api/v1/credits/{attribution_id}/allowances/{allowance_id}"): Row(staff_write(200)),
    # --- traffic collector ops and account reads (billing-service shape)
    ("GET", "/api/ping"): Row(open_to_all()),
    ("GET", "/healthz"): Row(open_to_all()),
    ("GET", "/healthz/collect"): Row(open_to_all()),
    ("GET", "/v1/status"): Row(staff_write(200)),
    ("POST", "/v1/jobs/collect-and-rate"): Row(internal_only(200)),
    ("POST", "/v1/jobs/reconcile"): Row(internal_only(200)),
    ("GET", "/api/account/usage/summary"): Row(team_read(), query=ACCOUNT),
    ("GET", "/api/account/usage/buckets"): Row(team_read(), query=ACCOUNT),
    ("GET", "/api/account/billing/summary"): Row(team_read(), query=ACCOUNT),
}

# Path parameters, by name, and the world attribute that fills them (team A's objects).
PATH_VALUES = {
    "attribution_id": "attribution_a",
    "grant_id": "grant_id_a",
    "key": "feature_key",
    "feature_key": "feature_key",
    "slug": "meter_slug",
    "instance_id": "instance_id",
    "allowance_id": "allowance_id_a",
}


def schema_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {(method.upper(), path) for path, item in schema["paths"].items() for method in item}


def test_every_operation_has_a_row_and_every_row_an_operation(db):
    operations = schema_operations()
    missing = sorted(operations - set(MATRIX))
    stale = sorted(set(MATRIX) - operations)
    assert not missing, f"operations without a row in MATRIX: {missing}"
    assert not stale, f"rows in MATRIX for operations that no longer exist: {stale}"
    for key, row in MATRIX.items():
        assert set(row.expect) == set(CALLERS), key


def _session_cookie(username: str) -> str:
    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return client.cookies["sessionid"].value


@pytest.fixture
def callers(live_server, reference_data):
    """(world, {caller kind: requests.Session}) against the live server."""
    exporter = start_exporter()
    world = build_api_world(exporter_url=exporter.url)
    from credits.services import feature_create

    world.extra["archive_key"] = feature_create(key="archive_me", meter_slug=world.meter_slug).key
    from credits.services.allowances import allowance_template_create

    world.extra["allowance_id_a"] = allowance_template_create(
        attribution_id=world.attribution_a, amount="10"
    ).pk
    sessions = {}
    for kind in CALLERS:
        session = requests.Session()
        token = {
            "key_a": world.key_a,
            "revoked_key": world.revoked_key,
            "internal": world.internal_token,
        }.get(kind)
        if token:
            session.headers["Authorization"] = f"Bearer {token}"
        username = {
            "member_a": world.member_a,
            "owner_a": world.owner_a,
            "member_b": world.member_b,
            "staff": world.staff,
        }.get(kind)
        if username:
            csrf = secrets.token_hex(16)  # 32 characters: Django's unmasked CSRF secret
            session.cookies.set("sessionid", _session_cookie(username))
            session.cookies.set("csrftoken", csrf)
            session.headers["X-CSRFToken"] = csrf
        sessions[kind] = session
    yield world, sessions
    exporter.stop()


def _fill(template: str, world, row: Row, *, team: str = "a") -> str:
    path = template
    for name, attribute in {**PATH_VALUES, **row.path}.items():
        if team == "b" and attribute in ("attribution_a", "grant_id_a"):
            attribute = attribute[:-1] + "b"
        value = world.extra.get(attribute) if attribute in world.extra else getattr(world, attribute)
        path = path.replace("{" + name + "}", str(value))
    return path


def _requests(row: Row, template: str):
    """(caller kind, team whose objects fill the request, expected cell) for one row: the eight
    callers on team A, and team A's key on team B wherever the row names a team: a 404 (never
    2xx), or the 403 it gets on team A too when its kind of credential may not do this at all."""
    for kind in CALLERS:
        yield kind, "a", row.expect[kind]
    names_a_team = "{attribution_id}" in template or set(row.query.values()) & {
        "{attribution_a}",
        "{account_uuid_a}",
    }
    if names_a_team:
        own = row.expect["key_a"]
        forbidden = (own[0] if isinstance(own, tuple) else own) == 403
        yield "key_a", "b", own if forbidden else (404, "not_found")


def test_every_caller_gets_what_the_table_says(live_server, callers):
    world, sessions = callers
    values = {**vars(world), **world.extra}
    mismatches = []
    for (method, template), row in MATRIX.items():
        for kind, team, expected in _requests(row, template):
            url = live_server.url + _fill(template, world, row, team=team)
            team_values = {
                **values,
                "attribution_a": values[f"attribution_{team}"],
                "account_uuid_a": values[f"account_uuid_{team}"],
            }
            query = {name: value.format(**team_values) for name, value in row.query.items()}
            response = sessions[kind].request(
                method, url, params=query, json=row.body if row.body is not None else None, timeout=30
            )
            body = response.json() if response.content else {}
            code = body.get("error") if isinstance(body, dict) else None
            status, want_code = expected if isinstance(expected, tuple) else (expected, None)
            if response.status_code != status or (want_code and code != want_code):
                got = f"{response.status_code} {code or ''}".strip()
                on = "" if team == "a" else " on team B"
                mismatches.append(f"{method} {template} as {kind}{on}: expected {expected}, got {got}")
            if response.status_code >= 400:  # every error in the one shape
                assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str), body
    assert not mismatches, "\n".join(mismatches)
