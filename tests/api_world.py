"""One seeded world for probing the whole API: two teams, every kind of caller, real objects.

Used by the fuzz test (tests/test_fuzz_api.py), the authorization matrix
(tests/test_authz_matrix.py) and `make fuzz` (scripts/fuzz.py), so path parameters such as
`team:<uuid>`, meter slugs, feature keys and grant ids name rows that exist.
"""

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

PASSWORD = "correct-horse-battery"


@dataclass
class ApiWorld:
    attribution_a: str
    attribution_b: str
    team_a_slug: str
    owner_a: str  # usernames; every user's password is PASSWORD
    member_a: str
    member_b: str
    staff: str
    key_a: str  # raw API keys
    revoked_key: str
    internal_token: str
    meter_slug: str
    feature_key: str
    grant_id_a: int
    grant_id_b: int
    account_uuid_a: str
    account_uuid_b: str
    instance_id: str
    extra: dict = field(default_factory=dict)


def start_exporter():
    """A fake exporter (devtools.exporter, no Django) on 127.0.0.1 for the world's source, so
    the traffic jobs and /healthz have something healthy to pull; `.stop()` it afterwards."""
    from devtools.exporter import ExporterServer, FakeExporter, TrafficGenerator, make_accounts

    generator = TrafficGenerator(node_id="node-world", accounts=make_accounts(2, seed=7), seed=7)
    return ExporterServer(FakeExporter(generator, token=settings.INTERNAL_SERVICE_TOKEN)).start()


def build_api_world(*, suffix: str = "", exporter_url: str | None = None) -> ApiWorld:
    """Create the world (inside whatever transaction or database the caller has open); with
    `exporter_url`, also the exporter source pulling it (see start_exporter)."""
    from billing.models import Membership
    from billing.tests.factories import MembershipFactory, StaffUserFactory, TeamFactory, UserFactory
    from core.services import api_key_create, api_key_revoke
    from credits.services import feature_create, grant_create
    from traffic.tests.factories import ExporterSourceFactory, traffic_account
    from usage.models import Meter

    suffix = suffix or uuid.uuid4().hex[:6]
    team_a = TeamFactory(name=f"Acme {suffix}", slug=f"acme-{suffix}")
    team_b = TeamFactory(name=f"Globex {suffix}", slug=f"globex-{suffix}")
    users = {}
    for name, team, role in (
        ("owner_a", team_a, Membership.Role.OWNER),
        ("member_a", team_a, Membership.Role.MEMBER),
        ("member_b", team_b, Membership.Role.MEMBER),
    ):
        users[name] = UserFactory(username=f"{name}-{suffix}", password=PASSWORD)
        MembershipFactory(team=team, user=users[name], role=role)
    staff = StaffUserFactory(username=f"staff-{suffix}", password=PASSWORD)

    _, key_a = api_key_create(name="team A key", attribution_id=team_a.attribution_id)
    revoked, revoked_raw = api_key_create(name="revoked A key", attribution_id=team_a.attribution_id)
    api_key_revoke(api_key=revoked)

    meter = Meter.objects.order_by("slug").first()
    if meter is None:
        meter = Meter.objects.create(slug="api-calls", unit="calls")
    feature = feature_create(key=f"calls_{suffix}", name="Calls", meter_slug=meter.slug)
    grant_a = grant_create(attribution_id=team_a.attribution_id, amount=Decimal("100"))
    grant_b = grant_create(attribution_id=team_b.attribution_id, amount=Decimal("100"))
    account = traffic_account(attribution_id=team_a.attribution_id)
    account_b = traffic_account(attribution_id=team_b.attribution_id)
    if exporter_url:
        ExporterSourceFactory(source_id="node-world", base_url=exporter_url)
    return ApiWorld(
        attribution_a=team_a.attribution_id,
        attribution_b=team_b.attribution_id,
        team_a_slug=team_a.slug,
        owner_a=users["owner_a"].username,
        member_a=users["member_a"].username,
        member_b=users["member_b"].username,
        staff=staff.username,
        key_a=key_a,
        revoked_key=revoked_raw,
        internal_token=settings.INTERNAL_SERVICE_TOKEN,
        meter_slug=meter.slug,
        feature_key=feature.key,
        grant_id_a=grant_a.id,
        grant_id_b=grant_b.id,
        account_uuid_a=str(account.account_uuid),
        account_uuid_b=str(account_b.account_uuid),
        instance_id=f"ws-{suffix}",
    )
